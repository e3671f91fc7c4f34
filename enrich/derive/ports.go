package derive

// PortName returns the well-known service name of port for TCP (6), UDP
// (17) or SCTP (132), or "" when the port is not in flowhose's small table.
// The table is a guess from the port number, not an observed protocol.
func PortName(protocol uint8, port uint16) string {
	if protocol != 6 && protocol != 17 && protocol != 132 {
		return ""
	}
	switch port {
	case 20:
		return "ftp-data"
	case 21:
		return "ftp"
	case 22:
		return "ssh"
	case 23:
		return "telnet"
	case 25:
		return "smtp"
	case 53:
		return "dns"
	case 67, 68:
		return "dhcp"
	case 80:
		return "http"
	case 88:
		return "kerberos"
	case 110:
		return "pop3"
	case 123:
		return "ntp"
	case 135:
		return "msrpc"
	case 143:
		return "imap"
	case 161, 162:
		return "snmp"
	case 389:
		return "ldap"
	case 443:
		return "https"
	case 445:
		return "smb"
	case 465:
		return "smtps"
	case 500, 4500:
		return "ipsec"
	case 514:
		return "syslog"
	case 587:
		return "submission"
	case 636:
		return "ldaps"
	case 853:
		return "dns-over-tls"
	case 993:
		return "imaps"
	case 995:
		return "pop3s"
	case 1433:
		return "mssql"
	case 1521:
		return "oracle"
	case 2049:
		return "nfs"
	case 2379, 2380:
		return "etcd"
	case 3306:
		return "mysql"
	case 3389:
		return "rdp"
	case 5432:
		return "postgresql"
	case 5439:
		return "redshift"
	case 5671:
		return "amqps"
	case 5672:
		return "amqp"
	case 5985, 5986:
		return "winrm"
	case 6379:
		return "redis"
	case 6443:
		return "kubernetes-api"
	case 8080:
		return "http-alt"
	case 8443:
		return "https-alt"
	case 9092:
		return "kafka"
	case 9200:
		return "elasticsearch"
	case 10250:
		return "kubelet"
	case 11211:
		return "memcached"
	case 27017:
		return "mongodb"
	}
	return ""
}
