"""agents/assistant."""
