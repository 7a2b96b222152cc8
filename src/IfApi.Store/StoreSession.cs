using System.Runtime.CompilerServices;
using IfApi.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// One transaction's unit of work, and all the store offers: the reads it makes, the locks it takes
/// (each one an explicit step, in the order its caller takes them), the units it claims, and the
/// writes it queues, which reach the store with the commit. It knows rows, not rules: what a row
/// means, which refusal applies and what is announced is decided by whoever holds the session.
/// <see cref="TransactionRunner"/> opens one per transaction (and runs it again after a lost race).
/// </summary>
public sealed partial class StoreSession
{
    private readonly IfDbContext _db;
    private readonly StoreProvider _provider;
    private readonly UnitPoolExtender _extender;
    // PostgreSQL: the rows creates and destroys add and delete, sent without EF's change tracker.
    private readonly PgWrites? _writes;
    // PostgreSQL: the cloners as last read, and the reads this transaction defers to its next round trip.
    private readonly ClonerCache? _cloners;
    private readonly PendingChecks _checks = new();

    private List<Func<CancellationToken, Task>>? _afterCommit;
    // The pools this transaction made, and whether it attached or detached a cloner: what no other
    // connection, and no cache shared with other transactions, may see before the commit.
    private HashSet<string>? _poolsMadeHere;
    private bool _clonersChanged;

    internal StoreSession(IfDbContext db, StoreProvider provider, UnitPoolExtender extender, ClonerCache cloners, string? actor, bool dryRun = false)
    {
        (_db, _provider, _extender) = (db, provider, extender);
        (Actor, DryRun) = (actor, dryRun);
        db.Entered = null; // a pooled context may have been used before
        (_writes, _cloners) = provider == StoreProvider.Postgres ? (new PgWrites(_checks), cloners) : (null, null);
    }

    /// <summary>The vnet the session works in now: the request's (<see cref="Curvnet"/>), or the one <see cref="Enter"/> set.</summary>
    public string Vnet => _db.Vnet;

    /// <summary>
    /// <c>CURVNET_SET</c>: works in <paramref name="vnet"/> until the result is disposed (then back
    /// where it was): what a move does on arrival, and a destroy with the unit of a home vnet.
    /// </summary>
    public IDisposable Enter(string vnet)
    {
        var was = _db.Entered;
        _db.Entered = vnet;
        return new Restore(_db, was);
    }

    private sealed class Restore(IfDbContext db, string? was) : IDisposable
    {
        public void Dispose() => db.Entered = was;
    }

    /// <summary>Whether this session announced anything (the sequencer is woken after the commit).</summary>
    public bool Announced { get; private set; }

    /// <summary>The API key whose request this is, written into every event the session announces.</summary>
    public string? Actor { get; }

    /// <summary>Whether this transaction is a dry run: it is rolled back, announces nothing and nothing runs after it.</summary>
    public bool DryRun { get; }

    /// <summary>
    /// Work for after the commit (telling the frame plane what changed); a transaction that is
    /// rolled back, run again or only a dry run never does it.
    /// </summary>
    public void AfterCommit(Func<CancellationToken, Task> work)
    {
        if (!DryRun)
            (_afterCommit ??= []).Add(work);
    }

    internal async Task AfterCommitAsync(CancellationToken ct)
    {
        foreach (var work in _afterCommit ?? [])
            await work(ct);
    }

    /// <summary>Whether the store has one writer (SQLite), who holds every lock from the start.</summary>
    public bool SingleWriter => _provider == StoreProvider.Sqlite;

    // ---- locks ---------------------------------------------------------------------------------

    /// <summary>
    /// Locks interface rows until the commit (<see cref="StoreDialect.LockRowsAsync"/>). Whoever locks
    /// rows and groups locks the rows first.
    /// </summary>
    public Task LockInterfacesAsync(Guid[] ids, CancellationToken ct) => StoreDialect.LockRowsAsync(_db, _provider, ids, ct);

    /// <summary>A group's lock until the commit, taken after any row locks.</summary>
    public Task LockGroupAsync(string group, CancellationToken ct) => StoreDialect.LockAsync(_db, _provider, Pools.In(Vnet, Pools.Group(group)), ct);

    /// <summary>A cloner's row until the commit: its clones' creates hold it shared, so a detach waits for them.</summary>
    public Task LockClonerAsync(string cloner, CancellationToken ct) => StoreDialect.LockClonerAsync(_db, _provider, Vnet, cloner, ct);

    /// <summary>A named lock of this vnet until the commit, for what needs one writer across replicas (the first start).</summary>
    public Task LockAsync(string name, CancellationToken ct) => StoreDialect.LockAsync(_db, _provider, Pools.In(Vnet, name), ct);

    // ---- units ---------------------------------------------------------------------------------

    /// <summary>
    /// A pool of units of this vnet (a cloner's, or <see cref="Pools.Ifindex"/>) to claim from in this transaction.
    /// <paramref name="madeHere"/>: the pool was made by this transaction, so nobody else can see it
    /// and it grows in place.
    /// </summary>
    public IUnitPool Units(string pool, bool madeHere = false)
    {
        pool = Pools.In(Vnet, pool);
        return new StoredUnitPool(_db, _provider, pool, madeHere || _poolsMadeHere?.Contains(pool) == true ? UnitPoolExtender.InPlace : _extender, _checks);
    }

    /// <summary>A new pool of units <paramref name="lo"/>..<paramref name="hi"/>, all free.</summary>
    /// <remarks>
    /// It grows in place for the rest of this transaction: another connection cannot see it before
    /// the commit (a batch that attaches a cloner and then creates its clones).
    /// </remarks>
    public Task CreatePoolAsync(string pool, int lo, int hi, CancellationToken ct)
    {
        pool = Pools.In(Vnet, pool);
        (_poolsMadeHere ??= new HashSet<string>(StringComparer.Ordinal)).Add(pool);
        return UnitPoolExtender.CreatePoolAsync(_db, pool, lo, hi, ct);
    }

    /// <summary>A pool and every free unit in it, gone.</summary>
    public async Task DropPoolAsync(string pool, CancellationToken ct)
    {
        pool = Pools.In(Vnet, pool);
        await _db.FreeUnits.Where(u => u.Pool == pool).ExecuteDeleteAsync(ct);
        await _db.UnitPools.Where(u => u.Pool == pool).ExecuteDeleteAsync(ct);
    }

    /// <summary>Frees a unit with the commit: until then nobody can claim it.</summary>
    public void FreeUnit(string pool, int unit)
    {
        pool = Pools.In(Vnet, pool);
        if (_writes is not null)
            _writes.FreeUnit(pool, unit);
        else
            _db.FreeUnits.Add(new FreeUnitRow { Pool = pool, Unit = unit });
    }

    /// <summary>
    /// What a create checks once it has claimed a unit: whether an interface holds one of
    /// <paramref name="names"/>; with <paramref name="claimIndex"/>, also the lowest free index where
    /// the store can claim it in the same round trip (otherwise that index is null). The cloner gone,
    /// or not the one matched (<paramref name="matchedSeq"/>, its <see cref="ClonerRow.Seq"/>): it was
    /// detached, maybe attached anew, meanwhile, and the transaction runs again.
    /// </summary>
    public async Task<(bool Held, int? Index)> ProbeCreateAsync(string cloner, long? matchedSeq, string[] names, bool claimIndex, CancellationToken ct)
    {
        var (seq, held, index) = await CreateProbes.ProbeAsync(_db, Vnet, cloner, names, claimIndex, _checks, ct);
        if (seq is null || matchedSeq is not null && seq != matchedSeq)
            throw new RaceLostException($"cloner '{cloner}' changed while this transaction used it");
        return (held, index);
    }

    // ---- writes --------------------------------------------------------------------------------

    /// <summary>Adds an event to this transaction: it is written with the change and streamed once committed.</summary>
    public void Announce(Announcement announcement)
    {
        if (DryRun)
            return; // nothing is announced, and no event number is drawn
        Announced = true;
        if (_writes is not null)
            _writes.Announce(announcement, Actor, Vnet);
        else
            Outbox.Add(_db, announcement, Actor);
    }

    /// <summary>Sends the writes queued so far: the rows added and deleted, then EF's changes of rows read to change.</summary>
    public async Task SaveAsync(CancellationToken ct)
    {
        if (_writes is not null)
            await _writes.SendAsync(_db, ct);
        await FlushChecksAsync(ct); // they go with the writes when there were any
        await _db.SaveChangesAsync(ct);
    }

    /// <summary>
    /// The last save of the transaction. On PostgreSQL, when everything left is the session's own
    /// writes, the COMMIT goes in their batch: a create or destroy saves a round trip. True when it did.
    /// </summary>
    internal async Task<bool> SaveAndCommitAsync(CancellationToken ct)
    {
        // Not with reads still deferred: the server would commit whatever their rows said.
        if (_writes is { HasQueued: true } && !_checks.Any && !_db.ChangeTracker.HasChanges())
        {
            await _writes.SendAsync(_db, ct, commit: true);
            return true;
        }
        await SaveAsync(ct);
        return false;
    }

    /// <summary>Forgets the rows read and written so far (sent already): a long transaction stays light.</summary>
    public void Forget() => _db.ChangeTracker.Clear();

    // ---- cloners -------------------------------------------------------------------------------

    public Task<int> CountClonersAsync(CancellationToken ct) => _db.Cloners.CountAsync(ct);

    /// <summary>Cloners newest first, with how many interfaces each has; one by name, or up to <paramref name="take"/>.</summary>
    public Task<List<ClonerView>> ClonersAsync(string? name, int take, CancellationToken ct)
    {
        // Said outright: the count below reads across vnets, and a query that ignores filters anywhere ignores them everywhere.
        var vnet = Vnet;
        var q = _db.Cloners.AsNoTracking().Where(c => c.Vnet == vnet);
        if (name is not null)
            q = q.Where(c => c.Name == name);
        return q.OrderByDescending(c => c.Seq).Take(take)
            // Its clones wherever they are now: they hold its units.
            .Select(c => new ClonerView(c, _db.Interfaces.IgnoreQueryFilters().Count(i => i.HomeVnet == c.Vnet && i.Cloner == c.Name)))
            .ToListAsync(ct);
    }

    public Task<bool> ClonerExistsAsync(string name, CancellationToken ct) => _db.Cloners.AnyAsync(c => c.Name == name, ct);

    /// <summary>A cloner to change or remove.</summary>
    public Task<ClonerRow?> FindClonerAsync(string name, CancellationToken ct) => _db.Cloners.FirstOrDefaultAsync(c => c.Name == name, ct);

    /// <summary>
    /// Every cloner, newest first, for a create of <paramref name="name"/>: on PostgreSQL the cached list
    /// when there is one, checked in this transaction's next round trip (<see cref="ClonerCache"/>);
    /// otherwise, or with <paramref name="fresh"/>, read with whether an interface has the name, in
    /// one round trip.
    /// </summary>
    public async Task<ClonerList> ClonersForCreateAsync(string name, CancellationToken ct, bool fresh = false)
    {
        if (!fresh && !_clonersChanged && _cloners?.Current(Vnet) is { } cached)
        {
            _checks.Add(new NpgsqlBatchCommand(ClonerCache.VersionSql) { Parameters = { new() { Value = Vnet } } }, r =>
            {
                if (r.GetInt64(0) == cached.Rows.Count && r.GetInt64(1) == cached.MaxSeq)
                    return null;
                _cloners.Forget(Vnet, cached);
                return new RaceLostException("the cloners changed since they were cached");
            });
            return new ClonerList(cached.Rows, name, taken: null);
        }
        var cloners = new List<ClonerRow>();
        var taken = false;
        var query = ClonersAndNameQueries.GetValue(_db.Model, static _ => EF.CompileAsyncQuery((IfDbContext db, string name) =>
            db.Cloners.AsNoTracking().OrderByDescending(c => c.Seq)
                .Select(c => new ClonerAndName { Cloner = c, Taken = db.Interfaces.Any(i => i.Name == name) })));
        await foreach (var row in query(_db, name).WithCancellation(ct))
        {
            cloners.Add(row.Cloner);
            taken = row.Taken; // the same on every row
        }
        if (!_clonersChanged && !DryRun) // a list with this transaction's own, uncommitted cloners is not everyone's
            _cloners?.Keep(Vnet, cloners);
        return new ClonerList(cloners, name, taken);
    }

    /// <summary>
    /// That no interface has the name the list was read for, else <paramref name="taken"/>'s error:
    /// at once when the list was read with it, otherwise with this transaction's next round trip.
    /// </summary>
    public void ExpectNameFree(ClonerList list, Func<Exception> taken)
    {
        if (list.Taken is bool known)
        {
            if (known)
                throw taken();
            return;
        }
        _checks.Add(new NpgsqlBatchCommand("SELECT EXISTS (SELECT FROM interfaces WHERE vnet = $1 AND name = $2)") { Parameters = { new() { Value = Vnet }, new() { Value = list.Name } } },
            r => r.GetBoolean(0) ? taken() : null);
    }

    /// <summary>Whether reads wait for the next round trip (<see cref="FlushChecksAsync"/>).</summary>
    internal bool HasPendingChecks => _checks.Any;

    /// <summary>Sends the reads that wait for a round trip, and throws the error of the first that fails.</summary>
    internal Task FlushChecksAsync(CancellationToken ct) => _checks.FlushAsync(_db, ct);

    // Every create runs it: compiled, so EF does not build, hash and look up its expression tree each
    // time (that was a sixth of the service's CPU per create). A compiled query serves one model only,
    // and a process may hold several (a host per store in the tests): one per model.
    private static readonly ConditionalWeakTable<Microsoft.EntityFrameworkCore.Metadata.IModel,
        Func<IfDbContext, string, IAsyncEnumerable<ClonerAndName>>> ClonersAndNameQueries = new();

    private sealed class ClonerAndName
    {
        public required ClonerRow Cloner { get; init; }
        public bool Taken { get; init; }
    }

    /// <summary>
    /// Adds a cloner. A dry run numbers it itself, after the newest, so that no number is drawn from
    /// the store's sequence, which a rollback would not give back.
    /// </summary>
    public async Task AddClonerAsync(ClonerRow row, CancellationToken ct)
    {
        _clonersChanged = true;
        row.Vnet = Vnet;
        if (DryRun)
            row.Seq = (await _db.Cloners.IgnoreQueryFilters().MaxAsync(c => (long?)c.Seq, ct) ?? 0) + 1;
        _db.Cloners.Add(row);
    }

    public void RemoveCloner(ClonerRow row)
    {
        _clonersChanged = true;
        _db.Cloners.Remove(row);
    }

    // ---- meta and remembered answers ------------------------------------------------------------

    public Task<bool> HasMetaAsync(string key, CancellationToken ct) => _db.Meta.AnyAsync(m => m.Key == key, ct);

    public void SetMeta(string key, string value) => _db.Meta.Add(new MetaRow { Key = key, Value = value });

    /// <summary>A remembered answer under <paramref name="key"/> still live at <paramref name="nowMs"/>.</summary>
    public Task<IdempotencyRow?> FindRememberedAsync(string key, long nowMs, CancellationToken ct)
    {
        key = IdempotencyRow.In(Vnet, key); // a vnet's keys are its own
        return _db.IdempotencyKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Key == key && k.ExpiresAt > nowMs, ct);
    }

    /// <summary>Keeps an answer; those that lapsed by <paramref name="nowMs"/> give way first.</summary>
    public async Task RememberAsync(IdempotencyRow row, long nowMs, CancellationToken ct)
    {
        await _db.IdempotencyKeys.Where(k => k.ExpiresAt <= nowMs).ExecuteDeleteAsync(ct);
        row.Key = IdempotencyRow.In(Vnet, row.Key);
        _db.IdempotencyKeys.Add(row);
    }
}

/// <summary>A cloner as stored, with how many interfaces it has.</summary>
public sealed record ClonerView(ClonerRow Row, int Interfaces);
