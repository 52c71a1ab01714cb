# The one place the Debian kernel base is pinned.
#
# DEB_VERSION is the Debian package version of linux-source-6.12 and of the
# matching headers/image packages; KABI is the kernel ABI (uname -r) those
# packages are built for.  Change both together when Debian moves on:
#   apt-cache policy linux-source-6.12
# shows the versions the archive still serves.
KVER        ?= 6.12
DEB_VERSION ?= 6.12.117-1~deb12u1
KABI        ?= 6.12.117+deb12-amd64
