"""Project-wide operations: the management commands that concern the whole product rather than
one app (`kefu_serve` runs it on one machine, `kefu_demo` seeds a demo merchant). Above every
app in the layering, beside the composition root (kefu/settings.py, urls.py, asgi.py ...)."""
