"""The embeddings pipeline's own stages: parse, protect and forward an embeddings request.

Authentication, model authorisation and the durable record are the chat pipeline's, shared as they are.
"""
