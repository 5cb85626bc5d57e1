"""Test utilities shipped with Meshline: a fake OpenAI-compatible provider and a private Redis."""
