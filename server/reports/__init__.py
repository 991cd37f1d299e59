"""The reports: what the casework found and did (assessment factors, referrals to services, parent
meetings against their legal deadline), in the reader's scope."""
