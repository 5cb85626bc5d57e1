"""The assistant agent runtime: one tool-calling runtime, made into agents by profiles (profiles/*.yaml)."""
