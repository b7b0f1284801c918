"""The outside world: provider simulators with the providers' real HTTP APIs."""
