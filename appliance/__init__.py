"""Fukurou: a packet-capture appliance for home and small networks."""

__version__ = "0.1.0"
