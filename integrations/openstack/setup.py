# The package is described in setup.cfg; this shim lets older pip and setuptools install it.
import setuptools

setuptools.setup()
