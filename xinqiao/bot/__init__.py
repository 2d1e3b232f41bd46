"""The process: settings, app, CLI, channels, the conversation engine and the notifier."""
