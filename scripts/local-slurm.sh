#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for testing the workflow's SLURM profile for real (Debian 12, run as
# root): munge + MariaDB + slurmdbd (accounting, so that `sacct` works) + slurmctld + slurmd. Everything listens
# on 127.0.0.1. A test fixture of this project: .ci/run starts it for `make test-slurm` (docs/cluster.md).
#   bash scripts/local-slurm.sh        # install (first time), configure, start, smoke-test
#   bash scripts/local-slurm.sh stop   # stop the daemons this script started (by PID)
# PIDs of the started daemons are kept in $STATE/pids.
set -euo pipefail
STATE=${STATE:-${TMPDIR:-/tmp}/local-slurm}
NODE=$(hostname -s)          # slurmd names itself after the host; /etc/hosts maps it to 127.0.0.1
CPUS=${CPUS:-$(nproc)}
MEM_MB=${MEM_MB:-20000}      # RealMemory; must not exceed what slurmd sees (free -m)
PARTITION=${PARTITION:-main}
mkdir -p "$STATE"

stop() {
    # slurmd, slurmctld, slurmdbd, mariadbd, munged: each by the PID it recorded
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        f="$STATE/$name.pid"
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        rm -f "$f"
    done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

# --- packages ------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm slurmdbd munge mariadb-server
fi

# --- munge ---------------------------------------------------------------------------------
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    sleep 1
    cat /run/munge/munged.pid > "$STATE/munged.pid"
fi
munge -n | unmunge | grep -q 'STATUS: *Success'

# --- MariaDB (accounting storage), unix socket + 127.0.0.1 only ----------------------------
mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
if ! mariadb -u root -e 'select 1' >/dev/null 2>&1; then
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
        --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 >"$STATE/mariadbd.log" 2>&1 &
    echo $! > "$STATE/mariadbd.pid"
    for _ in $(seq 60); do mariadb -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb -u root <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

# --- SLURM configs -------------------------------------------------------------------------
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmdbpass
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf

cat > /etc/slurm/slurm.conf <<EOF
ClusterName=localcluster
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# no cgroups in this sandbox
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# accounting: sacct reads slurmdbd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
AccountingStoreFlags=job_comment   # sacct shows the plugin's rule_<name> comment
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# --- daemons -------------------------------------------------------------------------------
pid_alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
pid_alive slurmdbd || { /usr/sbin/slurmdbd; sleep 3; }
sacctmgr -i add cluster localcluster >/dev/null 2>&1 || true   # no-op when registered
pid_alive slurmctld || { /usr/sbin/slurmctld; sleep 3; }
pid_alive slurmd || { /usr/sbin/slurmd; sleep 3; }
for _ in $(seq 30); do sinfo -h -o %t | grep -qE '^(idle|mix|alloc)' && break; sleep 1; done
scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true

# --- smoke test ----------------------------------------------------------------------------
sinfo
srun hostname
jid=$(sbatch --parsable --wrap hostname)
for _ in $(seq 30); do squeue -h -j "$jid" 2>/dev/null | grep -q . || break; sleep 1; done
sleep 8
sacct -j "$jid" -X -o JobID,JobName,Partition,State,ExitCode
echo "pids:"; for n in munged mariadbd slurmdbd slurmctld slurmd; do printf '%s %s\n' "$n" "$(cat "$STATE/$n.pid" 2>/dev/null)"; done
