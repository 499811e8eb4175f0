"""The ``prism`` command: run the gateway (``up``), one plugin (``serve``), and talk to it.

What for: one entry point for people — ``prism up`` starts the proxy with its plugins (with no
config: namespace ``default`` on MemStore, nothing else to install), ``prism kv ...``,
``prism pubsub ...`` and ``prism health`` are a small client for trying things out and for
scripts (errors print the gRPC status code and message and exit non-zero); ``prism new-plugin``
generates a working plugin from the repo's Copier template (``templates/plugin``).

Why built this way: argparse (stdlib, no extra dependency, good enough for a dozen
subcommands) and the synchronous gRPC client (a CLI makes one call at a time; asyncio would
only add ceremony). Each concern is its own module: ``up``/``serve`` run servers,
``client`` holds the client commands, ``new_plugin`` the generator, ``main`` only wires the
parser.
"""
