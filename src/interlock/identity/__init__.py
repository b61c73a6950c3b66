"""Who is calling: API keys, JWT bearer tokens, and acting on behalf of an end user."""
