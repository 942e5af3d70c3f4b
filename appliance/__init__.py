"""Fukurou: a packet-capture appliance for home and small networks."""

from appliance.native import prefer_fresh_sources

__version__ = "0.1.0"

prefer_fresh_sources()  # an edited checkout runs its sources, not extensions built before the edit
