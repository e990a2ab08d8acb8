"""A local, in-memory fake of the Telegram Bot API for tests and token-less demos.

See ``sandbox/README.md``. Public entry points: ``sandbox.config`` (Limits, SandboxConfig),
``sandbox.server`` (SandboxServer, build_app) and ``sandbox.client`` (SandboxClient).
"""
