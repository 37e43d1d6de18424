"""The built-in activations, one module each, and the code that resolves an ``--activation`` value.

Every module here that defines an activation registers it on import with the public
``noisebench.registry.register_activation`` decorator that plug-ins use (its ``order`` is its place in
listings: ``zoo``, ``--activation all``); the activation registry imports them all by walking this folder, so a
new built-in is one new file and no list names it. ``resolve.py`` turns a user's ``--activation`` value into a
factory (registry name, alias, ``pkg.mod:Class`` or entry point); ``names.py`` holds the names and aliases
without torch. This file imports nothing, so ``noisebench.harness.activations.names`` loads without torch.
"""
