"""Getting packets in: live capture (``live``), importing capture files (``importer``, ``watch``).

Both feed a :class:`~appliance.capture.sink.PacketSink`, which stores each packet in the PCAP store
and builds sessions from it with the same Decoder/SessionTable as ``fukurou parse``.
"""
