#!/bin/sh
# tallyd package: system user "tally", state in /var/lib/tallyd (0700),
# configuration in /etc/tally readable by the service. The service is
# enabled but not started: edit /etc/tally/tallyd.yaml first.
set -e
nologin=$(command -v nologin 2>/dev/null || echo /bin/false)
getent group tally >/dev/null 2>&1 || groupadd --system tally
getent passwd tally >/dev/null 2>&1 ||
	useradd --system --gid tally --home-dir /var/lib/tallyd --no-create-home --shell "$nologin" \
		--comment "Tally license server" tally
install -d -m 0700 -o tally -g tally /var/lib/tallyd
chown root:tally /etc/tally /etc/tally/tallyd.yaml
chmod 0750 /etc/tally
chmod 0640 /etc/tally/tallyd.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl enable tallyd.service >/dev/null 2>&1 || true
	echo "tallyd: edit /etc/tally/tallyd.yaml, then: systemctl start tallyd"
fi
exit 0
