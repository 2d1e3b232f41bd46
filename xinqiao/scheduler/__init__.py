"""The scheduler: calendar jobs on APScheduler and their claims, the registry of timer kinds;
and, until they move out, the policy models and the working calendar."""
