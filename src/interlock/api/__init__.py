"""The HTTP edge: one module per surface, one error home, the app that composes them (``app.create_app``)."""
