"""The web console at ``/console``: server-rendered pages for the people who do not carry the phone."""
