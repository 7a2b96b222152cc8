using IfApi.Domain;

namespace IfApi.Domain.Tests;

public class LearningBridgeTests
{
    private const ulong A = 0x02_00_00_00_00_0a, B = 0x02_00_00_00_00_0b, C = 0x02_00_00_00_00_0c;
    private const ulong Broadcast = 0xff_ff_ff_ff_ff_ff, Multicast = 0x01_00_5e_00_00_01;

    private static byte[] Frame(ulong destination, ulong source, ushort etherType = 0x0800, int payload = 46)
    {
        var f = new byte[EthernetHeader.Length + payload];
        for (var i = 0; i < 6; i++)
        {
            f[i] = (byte)(destination >> (40 - 8 * i));
            f[6 + i] = (byte)(source >> (40 - 8 * i));
        }
        (f[12], f[13]) = ((byte)(etherType >> 8), (byte)etherType);
        return f;
    }

    [Fact]
    public void Addresses_are_read_in_network_order_and_the_group_bit_is_the_first_bytes_lowest()
    {
        var f = Frame(Multicast, A);
        Assert.Equal(Multicast, EthernetHeader.Destination(f));
        Assert.Equal(A, EthernetHeader.Source(f));
        Assert.True(EthernetHeader.IsGroup(Multicast));
        Assert.True(EthernetHeader.IsGroup(Broadcast));
        Assert.False(EthernetHeader.IsGroup(A));
    }

    [Fact]
    public void Broadcast_floods_and_teaches_the_bridge_where_the_sender_is()
    {
        var bridge = new LearningBridge();
        Assert.Equal(Forward.Flood, bridge.Decide(Frame(Broadcast, A), ingress: 1, now: 0));
        Assert.Equal(new Forward(ForwardKind.Unicast, 1), bridge.Decide(Frame(A, B), ingress: 2, now: 1));
        Assert.Equal(new Forward(ForwardKind.Unicast, 2), bridge.Decide(Frame(B, A), ingress: 1, now: 2));
    }

    [Fact]
    public void Unknown_unicast_and_multicast_flood()
    {
        var bridge = new LearningBridge();
        Assert.Equal(Forward.Flood, bridge.Decide(Frame(C, A), 1, 0));
        Assert.Equal(Forward.Flood, bridge.Decide(Frame(Multicast, A), 1, 0));
    }

    [Fact]
    public void A_frame_for_a_station_on_the_port_it_came_in_on_goes_nowhere()
    {
        var bridge = new LearningBridge();
        bridge.Decide(Frame(Broadcast, A), 1, 0);
        Assert.Equal(Forward.Drop, bridge.Decide(Frame(A, B), 1, 1));
    }

    [Fact]
    public void A_group_or_zero_source_is_never_learned()
    {
        var bridge = new LearningBridge();
        bridge.Decide(Frame(Broadcast, Multicast), 1, 0);
        bridge.Decide(Frame(Broadcast, 0), 1, 0);
        Assert.Equal(0, bridge.Count);
    }

    [Fact]
    public void A_station_that_moves_is_followed()
    {
        var bridge = new LearningBridge();
        bridge.Decide(Frame(Broadcast, A), 1, 0);
        bridge.Decide(Frame(Broadcast, A), 3, 1);
        Assert.Equal(new Forward(ForwardKind.Unicast, 3), bridge.Decide(Frame(A, B), 2, 2));
        Assert.Equal(2, bridge.Count); // A once, where it is now, and B
    }

    [Fact]
    public void Entries_age_out_after_the_limit_unless_heard_again()
    {
        var bridge = new LearningBridge(ageLimitMs: 300_000);
        bridge.Learn(A, 1, now: 0);
        bridge.Learn(B, 2, now: 0);
        bridge.Learn(B, 2, now: 200_000); // heard again
        Assert.Equal(1, bridge.Lookup(A, 299_999));
        Assert.Equal(-1, bridge.Lookup(A, 300_000)); // expired: frames to it flood
        Assert.Equal(1, bridge.Age(300_000));
        Assert.Equal(2, bridge.Lookup(B, 300_000));
        Assert.Equal(1, bridge.Count);
    }

    [Fact]
    public void A_port_that_leaves_takes_its_stations_with_it()
    {
        var bridge = new LearningBridge();
        bridge.Learn(A, 1, 0);
        bridge.Learn(B, 2, 0);
        bridge.Learn(C, 1, 0);
        Assert.Equal(2, bridge.Purge(1));
        Assert.Equal((-1, 2, -1), (bridge.Lookup(A, 1), bridge.Lookup(B, 1), bridge.Lookup(C, 1)));
        Assert.Equal(1, bridge.Count);
    }

    [Fact]
    public void A_full_table_learns_nothing_more_and_floods_to_the_rest()
    {
        var bridge = new LearningBridge(maxAddresses: 2);
        bridge.Learn(A, 1, 0);
        bridge.Learn(B, 2, 0);
        bridge.Learn(C, 3, 0);
        Assert.Equal(2, bridge.Count);
        Assert.Equal(Forward.Flood, bridge.Decide(Frame(C, A), 1, 1));
        bridge.Learn(A, 4, 1); // a known station still moves
        Assert.Equal(4, bridge.Lookup(A, 1));
    }

    [Fact]
    public void Many_ports_learning_at_once_keep_the_count_exact()
    {
        var bridge = new LearningBridge(maxAddresses: 5000);
        Parallel.For(0, 8, port =>
        {
            for (ulong i = 0; i < 1000; i++)
                bridge.Learn(0x02_00_00_00_00_00 + i, port, 0); // every port hears the same 1000 stations
        });
        Assert.Equal(1000, bridge.Count);
        Assert.Equal(1000, bridge.Age(long.MaxValue));
        Assert.Equal(0, bridge.Count);
    }

    [Fact]
    public void A_runt_goes_nowhere()
    {
        Assert.Equal(Forward.Drop, new LearningBridge().Decide(new byte[13], 1, 0));
    }

    [Theory]
    [InlineData(13, 0x0800, false)]   // shorter than a header
    [InlineData(14, 0x0800, true)]
    [InlineData(1514, 0x0800, true)]  // MTU 1500 + header
    [InlineData(1515, 0x0800, false)]
    [InlineData(1518, 0x8100, true)]  // a VLAN tag's four bytes more
    [InlineData(1519, 0x8100, false)]
    [InlineData(1518, 0x0800, false)] // untagged: no more than the MTU
    public void A_port_accepts_a_header_and_at_most_its_MTU(int length, int etherType, bool valid)
    {
        var frame = new byte[length];
        if (length >= 14)
            (frame[12], frame[13]) = ((byte)(etherType >> 8), (byte)etherType);
        Assert.Equal(valid, EthernetHeader.HasValidLength(frame, mtu: 1500));
    }
}
