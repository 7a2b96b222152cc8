using System.Collections.Concurrent;

namespace IfApi.Frames;

/// <summary>
/// The frame plane's way to the other replicas that share its store (SPEC §7). Each replica is one
/// more port of every bridge it serves: what a bridge floods goes to every replica with an open
/// member of that bridge, a frame to a station learned behind a replica goes to that replica
/// alone, and a frame for a tap whose device is open on another replica goes to that device.
/// </summary>
/// <remarks>
/// Every method takes over one reference of the frame and never blocks: a frame that cannot be sent
/// now is dropped and counted, as a full interface queue drops. Frames that came from another
/// replica are never handed here again (split horizon), so replicas cannot make a loop.
/// </remarks>
public interface IReplicaUplink
{
    /// <summary>This replica, as the origin of what it sends.</summary>
    Guid Origin { get; }

    /// <summary>A frame the bridge floods: to every other replica with an open member of it.</summary>
    void Flood(Guid bridge, Frame frame);

    /// <summary>A frame the bridge sends to a station learned behind <paramref name="replica"/>.</summary>
    void Unicast(Guid bridge, RemoteReplica replica, Frame frame);

    /// <summary>A frame the interface transmits while its device is open on another replica.</summary>
    void ToDevice(Guid port, Frame frame);

    /// <summary>
    /// What this replica serves changed (a device opened or closed here, a bridge's members): the
    /// uplink follows it with its subscriptions, reading <see cref="FramePlane.Interest"/>.
    /// </summary>
    void InterestChanged();

    /// <summary>
    /// Completes once the subscriptions match what this replica served when it was called (or when
    /// other replicas cannot be reached now): a device just opened here gets what they send it.
    /// </summary>
    Task SettledAsync(CancellationToken ct);
}

/// <summary>
/// Another replica as a bridge's port: the stations heard behind it are learned on its
/// <see cref="Index"/>, from the same numbering as this process's own ports.
/// </summary>
public sealed class RemoteReplica
{
    private static readonly ConcurrentDictionary<Guid, RemoteReplica> ById = new();
    private static readonly ConcurrentDictionary<int, RemoteReplica> ByIndex = new();

    private RemoteReplica(Guid id) => (Id, Index) = (id, Port.NextIndex());

    public Guid Id { get; }

    public int Index { get; }

    /// <summary>The replica <paramref name="id"/>, numbered on first sight.</summary>
    public static RemoteReplica Of(Guid id)
    {
        if (ById.TryGetValue(id, out var known))
            return known;
        lock (ById)
        {
            if (ById.TryGetValue(id, out known))
                return known;
            var replica = new RemoteReplica(id);
            ByIndex[replica.Index] = replica;
            ById[id] = replica;
            return replica;
        }
    }

    /// <summary>The replica a learned port index stands for, if it is one.</summary>
    public static RemoteReplica? Find(int index) => ByIndex.TryGetValue(index, out var replica) ? replica : null;
}

/// <summary>What a replica serves and so subscribes to: the bridges with a member open here, and the devices open here.</summary>
public sealed record Interest(IReadOnlySet<Guid> Bridges, IReadOnlySet<Guid> Devices);

/// <summary>How a frame came from another replica, which decides how far it may go here.</summary>
public enum Arrival : byte
{
    /// <summary>Flooded by a bridge there: here only to the bridge's members whose devices are open here.</summary>
    Flood = 1,

    /// <summary>Sent by a bridge there to a station it learned behind this replica: switched here, never sent on.</summary>
    Unicast = 2,

    /// <summary>Transmitted there out of a tap whose device is open here.</summary>
    Device = 3,
}
