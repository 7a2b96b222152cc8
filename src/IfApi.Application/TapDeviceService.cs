using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>
/// Tap devices as the store sees them across replicas: a device open on one replica holds a lease
/// there (renewed while it stays open) and sets IFF_RUNNING on its interface.
/// </summary>
public sealed class TapDeviceService(TransactionRunner tx, StoreOptions options, ILinkObserver links)
{
    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private long LeaseEnd() => NowMs() + (long)options.LeaseDuration.TotalMilliseconds;

    /// <summary>
    /// <c>tap_dev_open</c> as far as the store sees it: takes the device's lease for this replica and
    /// sets IFF_RUNNING (and IFF_UP with <paramref name="bringUp"/>, as a cloning open does), in one
    /// transaction. Open on another replica whose lease is still live: EBUSY. The lease is taken by
    /// a conditional update, so two replicas racing for an expired one cannot both win; two racing
    /// to insert the first one collide on its key and the loser runs again and finds it taken.
    /// </summary>
    public Task OpenAsync(Guid id, bool bringUp, string? actor, CancellationToken ct) =>
        tx.WriteAsync(actor, async (s, ct) =>
        {
            // The row first: opens, closes and the expiry of this device take turns on it, so the
            // flags read below are the ones this transaction's write will replace.
            await s.LockInterfacesAsync([id], ct);
            // In whichever vnet it is now: a device stays open while its tap moves.
            var found = await s.RowForChangeInAnyVnetAsync(id, ct)
                ?? throw new IfError(Errno.ENXIO, "the interface was destroyed meanwhile", Ioctl.TapOpen);
            var until = LeaseEnd();
            if (!await s.TakeLeaseAsync(id, options.ReplicaId, NowMs(), until, ct))
            {
                if (await s.HasLeaseAsync(id, ct))
                    throw new IfError(Errno.EBUSY, $"'{found.Name}' is open on another replica", Ioctl.TapOpen);
                s.AddLease(id, options.ReplicaId, until);
            }
            if (SetRunning(s, found, running: true, bringUp))
                s.AfterCommit(ct => links.ChangedAsync([id], ct).AsTask()); // after the batch it may be part of
            return true;
        }, ct);

    /// <summary>
    /// <c>tap_dev_close</c>: gives the lease back and clears IFF_RUNNING, only if this replica held
    /// it (a refused open must not clear the flag of the replica that has the device).
    /// </summary>
    public Task CloseAsync(Guid id, string? actor, CancellationToken ct) =>
        tx.WriteAsync(actor, async (s, ct) =>
        {
            await s.LockInterfacesAsync([id], ct);
            if (!await s.DropLeaseAsync(id, options.ReplicaId, ct))
                return false;
            if (await s.RowForChangeInAnyVnetAsync(id, ct) is { } found)
                SetRunning(s, found, running: false, bringUp: false);
            return true;
        }, ct);

    /// <summary>Renews this replica's leases of the given devices; returns those it still holds.</summary>
    public Task<List<Guid>> RenewAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        tx.WriteAsync(null, (s, ct) => s.RenewLeasesAsync(ids, options.ReplicaId, LeaseEnd(), ct), ct);

    /// <summary>
    /// Ends the leases nobody renewed (their holder stopped without closing: killed, or cut off) and
    /// clears IFF_RUNNING wherever no lease is left. Any replica may run it; returns how many
    /// interfaces it cleared.
    /// </summary>
    public Task<int> ExpireAsync(CancellationToken ct) =>
        tx.WriteAsync(null, async (s, ct) =>
        {
            var now = NowMs();
            var candidates = await s.FlaggedWithoutLiveLeaseAsync(IfFlags.Running, now, ct);
            if (candidates.Count == 0)
                return 0;
            // Locked, then looked at again: an open that took a lease meanwhile keeps its flag.
            await s.LockInterfacesAsync([.. candidates], ct);
            await s.EndLeasesAsync(candidates, now, ct);
            var orphans = await s.FlaggedWithoutLeaseForChangeAsync(candidates, IfFlags.Running, ct);
            foreach (var found in orphans)
                SetRunning(s, found.Row, running: false, bringUp: false);
            return orphans.Count;
        }, ct);

    /// <summary>
    /// At start-up with a store of one process (SQLite): whatever devices the last run left open (it
    /// was killed) are closed now, not when their leases would run out. With several replicas, their
    /// leases tell instead (<see cref="ExpireAsync"/>).
    /// </summary>
    internal static async Task ClearLeftOpenAsync(StoreSession s, CancellationToken ct)
    {
        if (s.SingleWriter)
            await s.EndAllLeasesAsync(IfFlags.Running, ct);
    }

    /// <summary>Sets or clears IFF_RUNNING on a row to change and announces it in its vnet; true when IFF_UP came on.</summary>
    private static bool SetRunning(StoreSession s, InterfaceRow row, bool running, bool bringUp)
    {
        var before = Views.Attributes(row);
        var flags = running ? before.Flags | IfFlags.Running : before.Flags & ~IfFlags.Running;
        if (bringUp)
            flags |= IfFlags.Up;
        if (flags == before.Flags)
            return false;
        row.Flags = (int)flags;
        row.Version++;
        using (s.Enter(row.Vnet))
            Announce.Change(s, row.Id, before, before with { Flags = flags });
        return (before.Flags & IfFlags.Up) == 0 && (flags & IfFlags.Up) != 0;
    }
}
