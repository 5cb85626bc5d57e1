"""The LLM layer: an OpenAI-compatible API over a litellm router of the mesh's model deployments."""
