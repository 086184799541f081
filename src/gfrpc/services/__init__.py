"""Services built on the RPC layer.

* :mod:`gfrpc.services.brick`: the brick server (``gfrpc brick``): the GlusterFS 4.x FOP
  program over a POSIX store, the SETVOLUME handshake, posix-acl's access rules.
* :mod:`gfrpc.services.mgmt`: the management daemon (``gfrpc mgmtd``): client volfiles
  (GETSPEC), the port mapper (PORTBYBRICK, SIGNIN/SIGNOUT), and a brick's sign-in client.
"""
