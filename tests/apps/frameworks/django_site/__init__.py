"""A minimal Django site served through both its asgi.py and its wsgi.py."""
