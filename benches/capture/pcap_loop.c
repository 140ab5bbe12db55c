/* The floor of reading a capture through libpcap: pcap_next_ex in a loop, nothing else.
 * Build: cc -O2 -o pcap_loop pcap_loop.c -lpcap */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv) {
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) { fprintf(stderr, "usage: %s FILE\n", argv[0]); return 64; }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) { fprintf(stderr, "%s\n", err); return 1; }
    struct pcap_pkthdr *h;
    const u_char *data;
    unsigned long n = 0, bytes = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) { n++; bytes += h->caplen; }
    if (rc == -1) { fprintf(stderr, "%s\n", pcap_geterr(p)); return 1; }
    printf("%lu packets %lu bytes\n", n, bytes);
    return 0;
}
