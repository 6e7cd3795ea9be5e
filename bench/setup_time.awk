# Connection setup time from a capture of a firewall's client-side interface, as the paper
# measures it: from the client's SYN to the client's handshake-completing ACK, per connection.
# Input: `tcpdump -tt -n -r FILE 'tcp'` lines of client -> server packets. Output: one line per
# connection, the setup time in microseconds.
{
    ts = $1
    split($3, src, ".") # 10.10.1.10.40000
    port = src[5]
    if ($0 ~ /Flags \[S\]/) {
        syn[port] = ts
    } else if ($0 ~ /Flags \[\.\]/ && (port in syn)) {
        printf "%.1f\n", (ts - syn[port]) * 1e6
        delete syn[port]
    }
}
