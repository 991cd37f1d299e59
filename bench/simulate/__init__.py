"""The device simulator (``scripts/simulate``, docs/simulate.md): N case managers' phones, each
the reference client (``sync.client``) over a faulty network, against a real Doorstep over HTTP,
with a supervisor and office staff working through the API at the same time; then the proof that
nothing was lost.

- ``district``: the users and caseloads, made through the server's own means;
- ``faults``: the phones' wire and the faults laid on it (``--fault``);
- ``session``: a phone's login, refreshes, and the logouts a fault may cause;
- ``phone``: one case manager's rounds of work, her syncs and tus uploads;
- ``staff``: the supervisor's approvals and returns, office staff's resolutions;
- ``checks``: what must hold at the end, and the table;
- ``run``: one simulation, and the server it starts when none is given.
"""
