"""Codecs: each wire format a client speaks, turned into the one internal form the stages handle (the
OpenAI chat shape) and the answer turned back. One module per format and direction."""
