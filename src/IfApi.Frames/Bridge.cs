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
    private readonly CancellationTokenSource _gone = new();

    // Read on every frame, changed when a member joins or leaves: a new array each change, so a
    // forwarding pass sees one consistent set without a lock.
    private Port[] _members = [];

    /// <summary>The bridge interface; the other replicas know its side of the bridge by it.</summary>
    public Guid Id { get; init; }

    /// <summary>The vnet it is in now: its drops since it came are counted under it.</summary>
    public string Vnet { get; set; } = Vnets.Host;

    /// <summary>What its drops were when it came to <see cref="Vnet"/>.</summary>
    internal TrafficTotals CountedBefore { get; set; }

    /// <summary>The plane the bridge belongs to, which knows the way to other replicas; none for a bridge on its own.</summary>
    internal FramePlane? Plane { get; init; }

    /// <summary>Whether the bridge interface is up: while down it forwards nothing (<c>IFF_DRV_RUNNING</c>).</summary>
    public bool Up { get; set; } = true;

    public IReadOnlyList<Port> Members => Volatile.Read(ref _members);

    /// <summary>Cancelled when the bridge is destroyed: a device opened onto it as a segment is closed with 1001.</summary>
    public CancellationToken Gone => _gone.Token;

    /// <summary>The bridge was destroyed: whoever joined it as their segment is told through <see cref="Gone"/>.</summary>
    internal void Destroy()
    {
        try
        {
            _gone.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

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
        }
        Plane?.InterestChanged();
        return true;
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
        Plane?.InterestChanged();
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
        if (!Admit(frame))
            return;
        var decision = _table.Decide(frame.Span, ingress.Index, Environment.TickCount64);
        Switch(decision, ingress, frame, ref budget);
    }

    /// <summary>
    /// A frame another replica's side of this bridge sent here, taking over its one reference. Its
    /// source is learned as behind that replica. Flooded there, it goes only to the members whose
    /// devices are open here: the replica that flooded it carried it through every cable itself, and
    /// every other replica serving the bridge got it too. Sent here as a unicast, it is switched as
    /// any frame, cables included. Either way it never leaves this replica again (split horizon).
    /// </summary>
    internal void Arrive(RemoteReplica from, Arrival how, Frame frame)
    {
        if (!Admit(frame))
            return;
        var budget = new CableBudget { FromReplica = true };
        var decision = _table.Decide(frame.Span, from.Index, Environment.TickCount64);
        if (how != Arrival.Flood)
        {
            Switch(decision, null, frame, ref budget);
            return;
        }
        var members = Volatile.Read(ref _members);
        if (decision.Kind == ForwardKind.Unicast)
        {
            foreach (var m in members)
            {
                if (m.Index == decision.Port && m.IsOpen)
                {
                    m.Transmit(frame, ref budget);
                    return;
                }
            }
            frame.Release(); // known behind a cable or another replica: the flood's origin took care of it
        }
        else if (decision.Kind == ForwardKind.Flood)
            Flood(null, frame, members, ref budget, openHereOnly: true);
        else
            frame.Release();
    }

    /// <summary>Counts a frame in; false (and the frame released) while the bridge is down.</summary>
    private bool Admit(Frame frame)
    {
        if (!Up)
        {
            Counters.InputDrop();
            frame.Release();
            return false;
        }
        Counters.Input(frame.Length);
        return true;
    }

    private void Switch(Forward decision, Port? ingress, Frame frame, ref CableBudget budget)
    {
        var members = Volatile.Read(ref _members);
        switch (decision.Kind)
        {
            case ForwardKind.Unicast:
                if (!SendTo(decision.Port, members, frame, ref budget))
                    frame.Release(); // the station's port left meanwhile
                return;
            case ForwardKind.Flood:
                Flood(ingress, frame, members, ref budget, openHereOnly: false);
                return;
            default:
                frame.Release();
                return;
        }
    }

    /// <summary>Sends a frame to the member, or the replica, the index stands for; false when neither is here any more.</summary>
    private bool SendTo(int index, Port[] members, Frame frame, ref CableBudget budget)
    {
        foreach (var m in members)
        {
            if (m.Index == index)
            {
                m.Transmit(frame, ref budget);
                return true;
            }
        }
        if (RemoteReplica.Find(index) is not { } replica || Plane?.Uplink is not { } uplink)
            return false;
        if (budget.FromReplica)
            frame.Release(); // it came from a replica: it goes no further than this one
        else
            uplink.Unicast(Id, replica, frame);
        return true;
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
        var members = Volatile.Read(ref _members);
        var destination = EthernetHeader.Destination(frame.Span);
        if (!EthernetHeader.IsGroup(destination) && _table.Lookup(destination, Environment.TickCount64) is var port and >= 0
            && SendTo(port, members, frame, ref budget))
            return;
        Flood(null, frame, members, ref budget, openHereOnly: false);
    }

    /// <summary>
    /// Sends a frame to every up member but the one it came in on, and to the other replicas serving
    /// the bridge unless it came from one. A member whose device is open on another replica gets it
    /// there, from that replica's side of the bridge. <paramref name="openHereOnly"/>: only to the
    /// members whose devices are open here (a flood another replica made).
    /// </summary>
    private void Flood(Port? ingress, Frame frame, Port[] members, ref CableBudget budget, bool openHereOnly)
    {
        // Who gets it is decided once: a member going up or down meanwhile must not change the count
        // of references handed out (Transmit drops for a member that went down, using its reference).
        Span<bool> to = members.Length <= 256 ? stackalloc bool[members.Length] : new bool[members.Length];
        var targets = 0;
        for (var i = 0; i < members.Length; i++)
        {
            var m = members[i];
            if (ReferenceEquals(m, ingress) || (openHereOnly ? !m.IsOpen : m.OpenElsewhere))
                continue;
            if (to[i] = m.Up)
                targets++;
            else
                m.Counters.OutputDrop(); // down: what it would have sent is a drop
        }
        var uplink = budget.FromReplica ? null : Plane?.Uplink;
        if (uplink is not null)
            targets++;
        if (targets == 0)
        {
            frame.Release();
            return;
        }
        // One buffer for all: the receiver's reference goes to the first target, one more for each other.
        if (targets > 1)
            frame.AddReferences(targets - 1);
        uplink?.Flood(Id, frame);
        for (var i = 0; i < members.Length; i++)
        {
            if (to[i])
                members[i].Transmit(frame, ref budget);
        }
    }
}
