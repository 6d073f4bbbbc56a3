#!/bin/sh
# tally-agent package: system user "tally-agent" (runs the service), group
# "tally" (users allowed to check licenses out through the agent's socket),
# state in /var/lib/tally-agent. The service is enabled but not started
# until /etc/tally-agent/agent.yaml exists (tally-agent install --no-service).
set -e
nologin=$(command -v nologin 2>/dev/null || echo /bin/false)
getent group tally >/dev/null 2>&1 || groupadd --system tally
getent group tally-agent >/dev/null 2>&1 || groupadd --system tally-agent
getent passwd tally-agent >/dev/null 2>&1 ||
	useradd --system --gid tally-agent --groups tally --home-dir /var/lib/tally-agent --no-create-home \
		--shell "$nologin" --comment "Tally device agent" tally-agent
install -d -m 0750 -o tally-agent -g tally /var/lib/tally-agent
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl enable tally-agent.service >/dev/null 2>&1 || true
	if [ ! -f /etc/tally-agent/agent.yaml ]; then
		echo "tally-agent: configure with 'tally-agent install --no-service --server HOST:7443 --ca ca.pem --enroll-token TOKEN', then: systemctl start tally-agent"
	else
		systemctl restart tally-agent.service >/dev/null 2>&1 || true
	fi
fi
exit 0
