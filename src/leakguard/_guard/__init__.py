"""The guard's parts, one module per seam: ``resources`` builds what it decides with
from objects or paths, ``recipients`` reads who a message goes to, ``decide`` gives the
verdict and ``protect`` encrypts or refuses. :mod:`leakguard.guard` puts them together.
"""
