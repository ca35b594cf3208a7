"""The Qserv operator (kopf): a `Qserv` custom resource reconciled into the objects of
objects.py. See deploy/README.md."""
