"""Side-by-side benchmark of aioredisjobqueue and its peers: ``python -m benchmarks --help``.

The parent process (``__main__``) starts a private redis-server, runs every measurement in
a subprocess of its own (``child``) and writes a markdown report (``report``). Each library
has one module in ``libs/``; a peer's imports live only there, so that the smoke run needs
no peer installed.
"""
