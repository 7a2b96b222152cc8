using IfApi.Frames;

namespace IfApi.Tests;

/// <summary>Ports and a bridge forwarding between them, in process, without sockets.</summary>
public sealed class BridgeTests
{
    private static readonly byte[] MacA = [2, 0, 0, 0, 0, 0xa], MacB = [2, 0, 0, 0, 0, 0xb], MacC = [2, 0, 0, 0, 0, 0xc];
    private static readonly byte[] Everyone = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    internal static Frame Ethernet(byte[] to, byte[] from, int length = 64)
    {
        var bytes = new byte[length];
        to.CopyTo(bytes, 0);
        from.CopyTo(bytes, 6);
        (bytes[12], bytes[13]) = (0x08, 0x00);
        return Frame.Copy(bytes);
    }

    private static Port OpenPort(out TransmitQueue device, bool up = true)
    {
        var port = new Port(Guid.NewGuid(), mtu: 1500, up, queueLength: 16);
        device = port.TryOpen()!;
        return port;
    }

    private static List<byte[]> Drain(TransmitQueue device)
    {
        var got = new List<byte[]>();
        while (device.Reader.TryRead(out var f))
        {
            got.Add(f.Span.ToArray());
            f.Release();
        }
        return got;
    }

    private static (Bridge Bridge, Port A, Port B, Port C, TransmitQueue Da, TransmitQueue Db, TransmitQueue Dc) ThreePorts()
    {
        var bridge = new Bridge();
        var (a, b, c) = (OpenPort(out var da), OpenPort(out var db), OpenPort(out var dc));
        Assert.True(bridge.Add(a) && bridge.Add(b) && bridge.Add(c));
        return (bridge, a, b, c, da, db, dc);
    }

    [Fact]
    public void Broadcast_reaches_every_other_member_once_and_never_the_sender()
    {
        var (_, a, _, _, da, db, dc) = ThreePorts();
        var frame = Ethernet(Everyone, MacA);
        a.Receive(frame);
        Assert.Empty(Drain(da));
        Assert.Single(Drain(db));
        Assert.Single(Drain(dc));
        Assert.Equal(0, frame.References); // one buffer, given back after the last port sent it
        Assert.Equal((1, 64), (a.Counters.Snapshot().Ipackets, a.Counters.Snapshot().Ibytes));
    }

    [Fact]
    public void Once_learned_unicast_goes_to_one_port_only()
    {
        var (_, a, b, _, da, db, dc) = ThreePorts();
        a.Receive(Ethernet(Everyone, MacA)); // the bridge learns A on port a
        Drain(db);
        Drain(dc);
        b.Receive(Ethernet(MacA, MacB));
        Assert.Single(Drain(da));
        Assert.Empty(Drain(dc));
        a.Receive(Ethernet(MacB, MacA));
        Assert.Single(Drain(db));
        Assert.Empty(Drain(dc));
    }

    [Fact]
    public void A_down_member_gets_nothing_and_a_down_port_passes_nothing()
    {
        var (_, a, b, c, _, db, dc) = ThreePorts();
        c.Up = false;
        a.Receive(Ethernet(Everyone, MacA));
        Assert.Single(Drain(db));
        Assert.Empty(Drain(dc));
        Assert.Equal(1, c.Counters.Snapshot().Oqdrops);
        c.Receive(Ethernet(Everyone, MacC));
        Assert.Equal(1, c.Counters.Snapshot().Iqdrops);
        Assert.Empty(Drain(db));
    }

    [Fact]
    public void A_flood_between_bridges_joined_by_many_epairs_is_cut_by_a_budget_not_multiplied()
    {
        // Two bridges joined by four epairs: every crossing floods back over the other three.
        var (left, right) = (new Bridge(), new Bridge());
        var host = OpenPort(out var device);
        left.Add(host);
        var ends = new List<Port>();
        for (var i = 0; i < 4; i++)
        {
            var (a, b) = (new Port(Guid.NewGuid(), 1500, true, 16, Domain.InterfaceKind.Epair), new Port(Guid.NewGuid(), 1500, true, 16, Domain.InterfaceKind.Epair));
            (a.Peer, b.Peer) = (b, a);
            left.Add(a);
            right.Add(b);
            ends.AddRange([a, b]);
        }
        host.Receive(Ethernet(Everyone, MacA));
        var crossings = ends.Sum(e => e.Counters.Snapshot().Opackets);
        Assert.InRange(crossings, 4, Port.MaxCableCrossings);
        Assert.True(ends.Sum(e => e.Counters.Snapshot().Oqdrops) > 0, "the rest counted as drops");
        Drain(device);
    }

    [Fact]
    public void Each_frame_from_outside_has_a_crossing_budget_of_its_own_one_sent_out_of_a_cable_end_too()
    {
        var (left, right) = (new Bridge(), new Bridge());
        var ends = new List<Port>();
        for (var i = 0; i < 4; i++)
        {
            var (a, b) = (new Port(Guid.NewGuid(), 1500, true, 16, Domain.InterfaceKind.Epair), new Port(Guid.NewGuid(), 1500, true, 16, Domain.InterfaceKind.Epair));
            (a.Peer, b.Peer) = (b, a);
            left.Add(a);
            right.Add(b);
            ends.AddRange([a, b]);
        }
        long Crossings() => ends.Sum(e => e.Counters.Snapshot().Opackets);
        ends[0].Transmit(Ethernet(Everyone, MacA)); // as the transmit endpoint sends: its first crossing is in the budget
        var first = Crossings();
        Assert.InRange(first, 4, Port.MaxCableCrossings);
        ends[0].Transmit(Ethernet(Everyone, MacA));
        Assert.Equal(2 * first, Crossings());
    }

    [Fact]
    public void A_frame_longer_than_a_members_MTU_is_its_output_error()
    {
        var (_, a, b, c, _, db, dc) = ThreePorts();
        a.Mtu = 9000;
        c.Mtu = 9000;
        a.Receive(Ethernet(Everyone, MacA, length: 9014));
        Assert.Single(Drain(dc));
        Assert.Empty(Drain(db));
        Assert.Equal((1, 0), (b.Counters.Snapshot().Oerrors, b.Counters.Snapshot().Opackets));
    }

    [Fact]
    public void Runts_and_giants_are_input_errors_not_traffic()
    {
        var (_, a, _, _, _, db, _) = ThreePorts();
        a.Receive(Frame.Copy(new byte[13]));
        a.Receive(Ethernet(Everyone, MacA, length: 1515));
        Assert.Equal((2, 0), (a.Counters.Snapshot().Ierrors, a.Counters.Snapshot().Ipackets));
        Assert.Empty(Drain(db));
    }

    [Fact]
    public void With_nobody_reading_a_transmitted_frame_is_counted_and_dropped_as_tap_start_does()
    {
        var bridge = new Bridge();
        var a = OpenPort(out _);
        var closed = new Port(Guid.NewGuid(), 1500, up: true, queueLength: 16);
        bridge.Add(a);
        bridge.Add(closed);
        var frame = Ethernet(Everyone, MacA);
        a.Receive(frame);
        Assert.Equal((1, 64), (closed.Counters.Snapshot().Opackets, closed.Counters.Snapshot().Obytes));
        Assert.Equal(0, frame.References);
    }

    [Fact]
    public void A_slow_reader_loses_the_newest_frames_and_the_others_lose_nothing()
    {
        var bridge = new Bridge();
        var a = OpenPort(out _);
        var slow = new Port(Guid.NewGuid(), 1500, up: true, queueLength: 4);
        var slowDevice = slow.TryOpen()!;
        var fast = OpenPort(out var fastDevice);
        bridge.Add(a);
        bridge.Add(slow);
        bridge.Add(fast);
        var received = 0;
        for (var i = 0; i < 10; i++)
        {
            a.Receive(Ethernet(Everyone, MacA));
            received += Drain(fastDevice).Count; // the fast reader keeps up
        }
        Assert.Equal(10, received);
        Assert.Equal(4, Drain(slowDevice).Count);
        Assert.Equal(6, slow.Counters.Snapshot().Oqdrops);
    }

    [Fact]
    public void One_device_opener_at_a_time_and_closing_discards_its_queue()
    {
        var port = new Port(Guid.NewGuid(), 1500, up: true, queueLength: 8);
        var device = port.TryOpen()!;
        Assert.Null(port.TryOpen());
        var queued = Ethernet(Everyone, MacB);
        port.Transmit(queued);
        port.Close(device);
        Assert.Equal(0, queued.References);
        Assert.False(port.IsOpen);
        Assert.NotNull(port.TryOpen());
    }

    [Fact]
    public void A_member_of_one_bridge_cannot_join_another_and_leaving_forgets_its_stations()
    {
        var (bridge, a, _, _, _, _, _) = ThreePorts();
        Assert.False(new Bridge().Add(a));
        a.Receive(Ethernet(Everyone, MacA));
        Assert.Equal(1, bridge.Stations);
        Assert.True(bridge.Remove(a));
        Assert.Equal(0, bridge.Stations);
        Assert.Null(a.Bridge);
        Assert.True(new Bridge().Add(a));
    }
}
