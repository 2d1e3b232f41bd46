"""The centre's policy: escalation chains, check-in, booking, screening, content and retention
settings, and the working-time calendar they count in (data/policy.toml plus POLICY_FILE)."""
