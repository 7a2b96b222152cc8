using IfApi.Domain;

namespace IfApi.Frames;

/// <summary>
/// A bridge's frame path (<c>if_bridge.c</c>): its member ports and its learning table. A member's
/// received frame is forwarded by <see cref="LearningBridge.Decide"/>: to one port, or flooded to
/// every other up member as one shared buffer, never back out of the port it came in on.
/// </summary>
public sealed class Bridge(long ageLimitMs = LearningBridge.DefaultAgeLimitMs, int maxAddresses = LearningBridge.DefaultMaxAddresses)
{
    private readonly LearningBridge _table = new(ageLimitMs, maxAddresses);
    private readonly Lock _membersLock = new();

    // Read on every frame, changed when a member joins or leaves: a new array each change, so a
    // forwarding pass sees one consistent set without a lock.
    private Port[] _members = [];

    /// <summary>Whether the bridge interface is up: while down it forwards nothing (<c>IFF_DRV_RUNNING</c>).</summary>
    public bool Up { get; set; } = true;

    public IReadOnlyList<Port> Members => Volatile.Read(ref _members);

    /// <summary>The bridge interface's own counters: frames forwarded between members in, frames it sent itself out.</summary>
    public PortCounters Counters { get; } = new();

    /// <summary>How many stations the table knows now.</summary>
    public int Stations => _table.Count;

    /// <summary>Adds a member; false when it is a member of a bridge already (EBUSY).</summary>
    public bool Add(Port port)
    {
        lock (_membersLock)
        {
            if (port.Bridge is not null)
                return false;
            port.Bridge = this;
            Volatile.Write(ref _members, [.. _members, port]);
            return true;
        }
    }

    /// <summary>Removes a member and forgets the stations heard on it (<c>bridge_delete_member</c>).</summary>
    public bool Remove(Port port)
    {
        lock (_membersLock)
        {
            if (!ReferenceEquals(port.Bridge, this))
                return false;
            port.Bridge = null;
            Volatile.Write(ref _members, _members.Where(m => !ReferenceEquals(m, port)).ToArray());
        }
        _table.Purge(port.Index);
        return true;
    }

    /// <summary>Forgets stations not heard within the age limit; the host calls it every few seconds.</summary>
    public int Age(long now) => _table.Age(now);

    /// <summary>Forwards a frame <paramref name="ingress"/> received, taking over its one reference; a <see cref="CableBudget"/> of its own.</summary>
    public void Forward(Port ingress, Frame frame)
    {
        var budget = new CableBudget();
        Forward(ingress, frame, ref budget);
    }

    /// <summary>Forwards a frame within the <paramref name="budget"/> of the arrival it is part of.</summary>
    internal void Forward(Port ingress, Frame frame, ref CableBudget budget)
    {
        if (!Up)
        {
            Counters.InputDrop();
            frame.Release();
            return;
        }
        Counters.Input(frame.Length);
        var decision = _table.Decide(frame.Span, ingress.Index, Environment.TickCount64);
        var members = Volatile.Read(ref _members);
        switch (decision.Kind)
        {
            case ForwardKind.Unicast:
                foreach (var m in members)
                {
                    if (m.Index == decision.Port)
                    {
                        m.Transmit(frame, ref budget);
                        return;
                    }
                }
                frame.Release(); // the station's port left meanwhile
                return;
            case ForwardKind.Flood:
                Flood(ingress, frame, members, ref budget);
                return;
            default:
                frame.Release();
                return;
        }
    }

    /// <summary>
    /// The bridge interface itself transmits <paramref name="frame"/> (<c>bridge_output</c>), taking
    /// over its reference: to the member its destination was learned on, else to every up member.
    /// Nothing is learned from it. It starts a <see cref="CableBudget"/>.
    /// </summary>
    public void Transmit(Frame frame)
    {
        if (!Up)
        {
            Counters.OutputDrop();
            frame.Release();
            return;
        }
        Counters.Output(frame.Length);
        var budget = new CableBudget();
        TransmitToMembers(frame, ref budget);
    }

    private void TransmitToMembers(Frame frame, ref CableBudget budget)
    {
        var members = Volatile.Read(ref _members);
        var destination = EthernetHeader.Destination(frame.Span);
        if (!EthernetHeader.IsGroup(destination) && _table.Lookup(destination, Environment.TickCount64) is var port and >= 0)
        {
            foreach (var m in members)
            {
                if (m.Index == port)
                {
                    m.Transmit(frame, ref budget);
                    return;
                }
            }
        }
        Flood(null, frame, members, ref budget);
    }

    private static void Flood(Port? ingress, Frame frame, Port[] members, ref CableBudget budget)
    {
        // Who gets it is decided once: a member going up or down meanwhile must not change the count
        // of references handed out (Transmit drops for a member that went down, using its reference).
        Span<bool> to = members.Length <= 256 ? stackalloc bool[members.Length] : new bool[members.Length];
        var targets = 0;
        for (var i = 0; i < members.Length; i++)
        {
            if (ReferenceEquals(members[i], ingress))
                continue;
            if (to[i] = members[i].Up)
                targets++;
            else
                members[i].Counters.OutputDrop(); // down: what it would have sent is a drop
        }
        if (targets == 0)
        {
            frame.Release();
            return;
        }
        // One buffer for all: the receiver's reference goes to the first target, one more for each other.
        if (targets > 1)
            frame.AddReferences(targets - 1);
        for (var i = 0; i < members.Length; i++)
        {
            if (to[i])
                members[i].Transmit(frame, ref budget);
        }
    }
}
