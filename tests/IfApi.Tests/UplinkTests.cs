using IfApi.Domain;
using IfApi.Frames;
using IfApi.Frames.Nats;
using Microsoft.Extensions.Logging.Abstractions;

namespace IfApi.Tests;

/// <summary>
/// A bridge's side on one replica, with the other replicas stood in for by a recording uplink: the
/// rules of SPEC §7 one by one, in process, without NATS or a store.
/// </summary>
public sealed class UplinkTests
{
    private static readonly byte[] MacA = [2, 0, 0, 0, 0, 0xa], MacC = [2, 0, 0, 0, 0, 0xc], MacX = [2, 0, 0, 0, 0, 0x58], MacY = [2, 0, 0, 0, 0, 0x59];
    private static readonly byte[] Everyone = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    private static readonly Guid Br = Guid.NewGuid(), A = Guid.NewGuid(), B = Guid.NewGuid(), C = Guid.NewGuid();
    private static readonly Guid ReplicaR = Guid.NewGuid(), ReplicaS = Guid.NewGuid();

    private sealed class Links(params LinkState[] links) : ILinkSource
    {
        public Task<IReadOnlyList<LinkState>> GetLinksAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<LinkState>>(links);
    }

    /// <summary>Records what the bridge sends to other replicas, and gives each frame's reference back.</summary>
    private sealed class RecordingUplink : IReplicaUplink
    {
        public List<(string How, Guid Target, Guid? Replica, byte[] Bytes)> Sent { get; } = [];

        public int InterestChanges;

        public Guid Origin { get; } = Guid.NewGuid();

        public void Flood(Guid bridge, Frame frame) => Record("flood", bridge, null, frame);

        public void Unicast(Guid bridge, RemoteReplica replica, Frame frame) => Record("unicast", bridge, replica.Id, frame);

        public void ToDevice(Guid port, Frame frame) => Record("device", port, null, frame);

        public void InterestChanged() => Interlocked.Increment(ref InterestChanges);

        public Task SettledAsync(CancellationToken ct) => Task.CompletedTask;

        private void Record(string how, Guid target, Guid? replica, Frame frame)
        {
            Sent.Add((how, target, replica, frame.Span.ToArray()));
            frame.Release();
        }
    }

    /// <summary>
    /// Bridge <c>Br</c> with members A and C (devices open here) and B (its device open on another
    /// replica: running in the store, not here).
    /// </summary>
    private static async Task<(FramePlane Plane, RecordingUplink Uplink, Port A, Port B, Port C, TransmitQueue Da, TransmitQueue Dc)> Segment()
    {
        var plane = new FramePlane(new Links(
            new LinkState(Br, InterfaceKind.Bridge, IfFlags.Up | IfFlags.Running, 1500, null, null),
            new LinkState(A, InterfaceKind.Tap, IfFlags.Up | IfFlags.Running, 1500, null, Br),
            new LinkState(B, InterfaceKind.Tap, IfFlags.Up | IfFlags.Running, 1500, null, Br),
            new LinkState(C, InterfaceKind.Tap, IfFlags.Up | IfFlags.Running, 1500, null, Br)),
            new TapOptions(), NullLogger<FramePlane>.Instance);
        var uplink = new RecordingUplink();
        plane.Attach(uplink);
        var a = (await plane.LoadPortAsync(A, default))!;
        var (b, c) = (plane.FindPort(B)!, plane.FindPort(C)!);
        var (da, dc) = (a.TryOpen()!, c.TryOpen()!);
        return (plane, uplink, a, b, c, da, dc);
    }

    private static Frame Ethernet(byte[] to, byte[] from) => BridgeTests.Ethernet(to, from);

    private static int Drain(TransmitQueue device)
    {
        var n = 0;
        while (device.Reader.TryRead(out var f))
        {
            f.Release();
            n++;
        }
        return n;
    }

    [Fact]
    public async Task A_local_flood_goes_once_to_the_other_replicas_and_never_to_a_member_open_elsewhere()
    {
        var (_, uplink, a, b, _, da, dc) = await Segment();
        var frame = Ethernet(Everyone, MacA);
        a.Receive(frame);
        Assert.Equal((0, 1), (Drain(da), Drain(dc)));
        var sent = Assert.Single(uplink.Sent);
        Assert.Equal(("flood", Br), (sent.How, sent.Target));
        Assert.Equal(0, b.Counters.Snapshot().Opackets + b.Counters.Drops().NoReader); // its replica delivers it
        Assert.Equal(0, frame.References);
    }

    [Fact]
    public async Task A_flood_from_another_replica_reaches_only_devices_open_here_and_is_never_sent_on()
    {
        var (plane, uplink, _, b, _, da, dc) = await Segment();
        var frame = Ethernet(Everyone, MacX);
        Assert.True(plane.Arrive(ReplicaR, Arrival.Flood, Br, frame));
        Assert.Equal((1, 1), (Drain(da), Drain(dc)));
        Assert.Empty(uplink.Sent); // split horizon
        Assert.Equal(0, b.Counters.Snapshot().Opackets);
        Assert.Equal(0, frame.References);
    }

    [Fact]
    public async Task A_station_heard_behind_a_replica_gets_unicast_sent_to_that_replica_alone()
    {
        var (plane, uplink, a, _, _, da, dc) = await Segment();
        plane.Arrive(ReplicaR, Arrival.Flood, Br, Ethernet(Everyone, MacX));
        plane.Arrive(ReplicaS, Arrival.Flood, Br, Ethernet(Everyone, MacY));
        Drain(da);
        Drain(dc);
        a.Receive(Ethernet(MacX, MacA));
        Assert.Equal((0, 0), (Drain(da), Drain(dc)));
        var sent = Assert.Single(uplink.Sent);
        Assert.Equal(("unicast", Br, (Guid?)ReplicaR), (sent.How, sent.Target, sent.Replica));
    }

    [Fact]
    public async Task A_unicast_from_another_replica_goes_to_the_learned_member_only()
    {
        var (plane, uplink, a, _, c, da, dc) = await Segment();
        c.Receive(Ethernet(Everyone, MacC)); // C is learned here
        Drain(da);
        Drain(dc);
        uplink.Sent.Clear();
        Assert.True(plane.Arrive(ReplicaR, Arrival.Unicast, Br, Ethernet(MacC, MacX)));
        Assert.Equal((0, 1), (Drain(da), Drain(dc)));
        Assert.Empty(uplink.Sent);
    }

    [Fact]
    public async Task A_unicast_from_one_replica_for_a_station_behind_another_goes_no_further()
    {
        var (plane, uplink, _, _, _, da, dc) = await Segment();
        plane.Arrive(ReplicaS, Arrival.Flood, Br, Ethernet(Everyone, MacY)); // Y is behind S
        Drain(da);
        Drain(dc);
        var frame = Ethernet(MacY, MacX);
        plane.Arrive(ReplicaR, Arrival.Unicast, Br, frame);
        Assert.Equal((0, 0), (Drain(da), Drain(dc)));
        Assert.Empty(uplink.Sent);
        Assert.Equal(0, frame.References);
    }

    [Fact]
    public async Task A_flood_from_another_replica_for_a_known_local_station_reaches_that_member_only()
    {
        var (plane, _, _, _, c, da, dc) = await Segment();
        c.Receive(Ethernet(Everyone, MacC));
        Drain(da);
        Drain(dc);
        plane.Arrive(ReplicaR, Arrival.Flood, Br, Ethernet(MacC, MacX)); // unknown there, known here
        Assert.Equal((0, 1), (Drain(da), Drain(dc)));
    }

    [Fact]
    public async Task A_transmit_to_a_tap_open_on_another_replica_goes_to_its_device_there()
    {
        var (plane, uplink, _, b, _, _, _) = await Segment();
        b.Transmit(Ethernet(MacX, MacA));
        var sent = Assert.Single(uplink.Sent);
        Assert.Equal(("device", B), (sent.How, sent.Target));
        uplink.Sent.Clear();

        // Come from another replica for a device not open here (any more): not served, never sent on.
        Assert.False(plane.Arrive(ReplicaR, Arrival.Device, B, Ethernet(MacA, MacX)));
        Assert.Empty(uplink.Sent);
    }

    [Fact]
    public async Task A_device_frame_from_another_replica_is_written_to_the_open_device()
    {
        var (plane, uplink, _, _, _, da, _) = await Segment();
        plane.Arrive(ReplicaR, Arrival.Device, A, Ethernet(MacA, MacX));
        Assert.Equal(1, Drain(da));
        Assert.Empty(uplink.Sent);
    }

    [Fact]
    public async Task What_a_replica_serves_follows_its_open_devices()
    {
        var (plane, uplink, a, _, c, da, dc) = await Segment();
        var interest = plane.Interest();
        Assert.Equal([Br], interest.Bridges);
        Assert.Equal(new HashSet<Guid> { A, C }, interest.Devices);
        var before = uplink.InterestChanges;
        a.Close(da);
        c.Close(dc);
        Assert.True(uplink.InterestChanges > before);
        Assert.Empty(plane.Interest().Bridges);
        Assert.Empty(plane.Interest().Devices);
    }

    [Fact]
    public async Task Without_an_uplink_a_member_running_elsewhere_is_an_ordinary_member()
    {
        var plane = new FramePlane(new Links(
            new LinkState(Br, InterfaceKind.Bridge, IfFlags.Up, 1500, null, null),
            new LinkState(A, InterfaceKind.Tap, IfFlags.Up | IfFlags.Running, 1500, null, Br),
            new LinkState(B, InterfaceKind.Tap, IfFlags.Up | IfFlags.Running, 1500, null, Br)),
            new TapOptions(), NullLogger<FramePlane>.Instance);
        var a = (await plane.LoadPortAsync(A, default))!;
        var b = plane.FindPort(B)!;
        a.TryOpen();
        a.Receive(Ethernet(Everyone, MacA));
        Assert.Equal(1, b.Counters.Drops().NoReader); // one process: nobody has it open, as before
    }

    [Fact]
    public void A_message_round_trips_and_anything_else_is_refused()
    {
        var (origin, target) = (Guid.NewGuid(), Guid.NewGuid());
        var message = new byte[CrossingMessage.HeaderLength + 2 * CrossingMessage.LengthBytes + 64 + 1514];
        CrossingMessage.WriteHeader(message, Arrival.Unicast, origin, target);
        var at = CrossingMessage.HeaderLength;
        at += CrossingMessage.WriteRecord(message.AsSpan(at), new byte[64]);
        at += CrossingMessage.WriteRecord(message.AsSpan(at), Enumerable.Repeat((byte)7, 1514).ToArray());
        Assert.Equal(message.Length, at);

        Assert.True(CrossingMessage.TryReadHeader(message, out var how, out var o, out var t));
        Assert.Equal((Arrival.Unicast, origin, target), (how, o, t));
        var offset = CrossingMessage.HeaderLength;
        var lengths = new List<int>();
        while (CrossingMessage.TryReadRecord(message, ref offset, out var frame, out var malformed))
            lengths.Add(frame.Length);
        Assert.Equal([64, 1514], lengths);

        var wrongVersion = (byte[])message.Clone();
        wrongVersion[0] = 2;
        Assert.False(CrossingMessage.TryReadHeader(wrongVersion, out _, out _, out _));
        var wrongArrival = (byte[])message.Clone();
        wrongArrival[1] = 9;
        Assert.False(CrossingMessage.TryReadHeader(wrongArrival, out _, out _, out _));
        Assert.False(CrossingMessage.TryReadHeader(message.AsSpan(0, 20), out _, out _, out _));

        var cut = message.AsSpan(0, message.Length - 1);
        offset = CrossingMessage.HeaderLength;
        Assert.True(CrossingMessage.TryReadRecord(cut, ref offset, out _, out _));
        Assert.False(CrossingMessage.TryReadRecord(cut, ref offset, out _, out var truncated));
        Assert.True(truncated);
    }

    [Fact]
    public async Task The_uplink_counts_malformed_messages_and_frames_for_what_is_not_served_here()
    {
        var (plane, _, _, _, _, da, dc) = await Segment();
        await using var uplink = new NatsUplink(plane, new NatsFramesOptions { Url = "nats://127.0.0.1:1" }, NullLogger<NatsUplink>.Instance);

        uplink.Receive([1, 2, 3]);
        Assert.Equal(1, uplink.Counters.Dropped(CrossingDrop.Malformed));

        var frame = new byte[64];
        Everyone.CopyTo(frame, 0);
        MacX.CopyTo(frame, 6);
        var message = new byte[CrossingMessage.HeaderLength + 2 * (CrossingMessage.LengthBytes + 64) + 2];
        CrossingMessage.WriteHeader(message, Arrival.Flood, ReplicaR, Br);
        var at = CrossingMessage.HeaderLength;
        at += CrossingMessage.WriteRecord(message.AsSpan(at), frame);
        CrossingMessage.WriteRecord(message.AsSpan(at), frame);
        uplink.Receive(message); // two frames, then two bytes that are no record
        Assert.Equal((2, 2), (Drain(da), Drain(dc)));
        Assert.Equal(2, uplink.Counters.Dropped(CrossingDrop.Malformed));
        Assert.Equal(2, uplink.Counters.In.Frames);

        CrossingMessage.WriteHeader(message, Arrival.Flood, ReplicaR, Guid.NewGuid());
        uplink.Receive(message.AsSpan(0, message.Length - 2));
        Assert.Equal(2, uplink.Counters.Dropped(CrossingDrop.NotServed));

        CrossingMessage.WriteHeader(message, Arrival.Flood, uplink.Origin, Br);
        uplink.Receive(message.AsSpan(0, message.Length - 2)); // its own, back: never echoed
        Assert.Equal((0, 0), (Drain(da), Drain(dc)));
    }

    [Fact]
    public async Task Frames_sent_while_NATS_is_unreachable_are_dropped_and_counted()
    {
        var (plane, _, _, _, _, _, _) = await Segment();
        await using var uplink = new NatsUplink(plane, new NatsFramesOptions { Url = "nats://127.0.0.1:1" }, NullLogger<NatsUplink>.Instance);
        var frame = Ethernet(Everyone, MacA);
        uplink.Flood(Br, frame);
        Assert.Equal(1, uplink.Counters.Dropped(CrossingDrop.Down));
        Assert.Equal(0, frame.References);
    }
}
