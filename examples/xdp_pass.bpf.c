/* The smallest XDP program: passes every packet (for `bpfscope net attach`). */
#define SEC(name) __attribute__((section(name), used))

struct xdp_md;

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return 2; /* XDP_PASS */
}

char LICENSE[] SEC("license") = "GPL";
