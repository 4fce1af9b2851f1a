"""Smart charging: charging profiles → composite schedule → per-connector limit, and the
site's load balancer. Sans-I/O: time, sessions and meter readings come in as arguments."""
