#!/usr/bin/env bash
# mpirun's remote-shell agent for test hosts made of network namespaces
# (--mca plm_rsh_agent this-script): runs the command mpirun would run over ssh
# inside the host's namespace, with its own host name (UTS namespace).
#   DELTARL_NETNS_HOSTS="10.211.0.1=ns-a=host-a 10.211.0.2=ns-b=host-b"
# mpirun calls: agent [ssh-like options] HOST COMMAND...
while [[ "${1:-}" == -* ]]; do shift; done
host="$1"; shift
for entry in $DELTARL_NETNS_HOSTS; do
  IFS== read -r address namespace name <<< "$entry"
  if [[ "$host" == "$address" || "$host" == "$name" ]]; then
    exec ip netns exec "$namespace" unshare --uts /bin/sh -c "hostname $name; $*"
  fi
done
echo "netns_rsh: unknown host $host (not in DELTARL_NETNS_HOSTS)" >&2
exit 255
