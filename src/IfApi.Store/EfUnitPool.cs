using IfApi.Domain;
using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

/// <summary>
/// <see cref="IUnitPool"/> over the <c>free_ranges</c> table. Every look-up is one index seek on
/// (pool, hi) whatever is allocated. Changes are tracked and written with the rest of the
/// transaction's changes in one batch; they are flushed early only when the same pool is read again.
/// The caller holds the pool's lock, so these statements run synchronously (see
/// <see cref="TransactionRunner.LockAsync"/> for why).
/// </summary>
/// <param name="namesOf">When given, each look-up also says whether the names of the unit it
/// offers are held by other interfaces (<see cref="NamesHeld"/>), saving the allocator a round trip
/// while it holds the pool's lock.</param>
/// <param name="clonerSeq">With <paramref name="namesOf"/>: the cloner as the caller matched it
/// before taking the lock. The same look-up checks that it is still that cloner, and throws
/// <see cref="RaceLostException"/> when it is not, so the transaction runs again.</param>
internal sealed class EfUnitPool(IfDbContext db, string pool, ClonerSpec? namesOf = null, long? clonerSeq = null) : IUnitPool
{
    private readonly Dictionary<FreeRange, FreeRangeRow> _seen = [];
    private (int Unit, bool Held)? _probe;

    public static FreeRangeRow Whole(string pool, int lo, int hi) => new() { Pool = pool, Lo = lo, Hi = hi };

    /// <summary>Whether the last look-up found the names of <paramref name="unit"/> held; null when it did not ask.</summary>
    public bool? NamesHeld(int unit) => _probe is { } p && p.Unit == unit ? p.Held : null;

    public ValueTask<FreeRange?> FindFreeAsync(int atOrAbove, CancellationToken ct)
    {
        Flush();
        _probe = null;
        var free = db.FreeRanges.Where(r => r.Pool == pool && r.Hi >= atOrAbove).OrderBy(r => r.Hi);
        FreeRangeRow? row;
        if (namesOf is null)
        {
            row = free.FirstOrDefault();
        }
        else
        {
            // The unit offered is max(lo, atOrAbove); its names are the cloner name and that number
            // (with "a"/"b" for epair), built in SQL so the probe rides on the same query.
            var prefix = namesOf.Name;
            var ends = namesOf.Kind == InterfaceKind.Epair;
            var found = free
                .Select(r => new
                {
                    Row = r,
                    Held = db.Interfaces.Any(i =>
                        i.Name == prefix + (r.Lo > atOrAbove ? r.Lo : atOrAbove).ToString()
                        || ends && (i.Name == prefix + (r.Lo > atOrAbove ? r.Lo : atOrAbove).ToString() + "a"
                                    || i.Name == prefix + (r.Lo > atOrAbove ? r.Lo : atOrAbove).ToString() + "b")),
                    ClonerSeq = db.Cloners.Where(c => c.Name == prefix).Select(c => (long?)c.Seq).FirstOrDefault(),
                })
                .FirstOrDefault();
            // No free range left is also what a detached cloner looks like: tell the two apart.
            var seq = found is null ? db.Cloners.Where(c => c.Name == prefix).Select(c => (long?)c.Seq).FirstOrDefault() : found.ClonerSeq;
            if (clonerSeq is not null && seq != clonerSeq)
                throw new RaceLostException($"cloner '{prefix}' changed while this transaction waited for it");
            row = found?.Row;
            if (found is not null)
                _probe = (Math.Max(found.Row.Lo, atOrAbove), found.Held);
        }
        if (row is null)
            return ValueTask.FromResult<FreeRange?>(null);
        var range = new FreeRange(row.Lo, row.Hi);
        _seen[range] = row;
        return ValueTask.FromResult<FreeRange?>(range);
    }

    public ValueTask TakeAsync(FreeRange range, int unit, CancellationToken ct)
    {
        var row = _seen[range];
        _seen.Remove(range);
        var (left, right) = UnitAllocator.Split(range, unit);
        if (left is null && right is null)
        {
            db.FreeRanges.Remove(row);
        }
        else
        {
            var keep = left ?? right!.Value;
            (row.Lo, row.Hi) = (keep.Lo, keep.Hi);
            if (left is not null && right is { } r)
                db.FreeRanges.Add(Whole(pool, r.Lo, r.Hi));
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask ReleaseAsync(int unit, CancellationToken ct)
    {
        ReleaseRange(unit, unit);
        return ValueTask.CompletedTask;
    }

    /// <summary>Gives back the allocated run lo..hi, joining free neighbours: two seeks whatever its length.</summary>
    public void ReleaseRange(int lo, int hi)
    {
        Flush();
        var below = lo - 1;
        var above = hi == int.MaxValue ? hi : hi + 1;
        var neighbours = db.FreeRanges
            .Where(r => r.Pool == pool && (r.Hi == below || r.Lo == above))
            .ToList();
        var left = neighbours.FirstOrDefault(r => r.Hi == below);
        var right = neighbours.FirstOrDefault(r => r.Lo == above && hi != int.MaxValue);
        if (left is not null && right is not null)
        {
            left.Hi = right.Hi;
            db.FreeRanges.Remove(right);
        }
        else if (left is not null)
        {
            left.Hi = hi;
        }
        else if (right is not null)
        {
            right.Lo = lo;
        }
        else
        {
            db.FreeRanges.Add(Whole(pool, lo, hi));
        }
    }

    /// <summary>Gives back many units: coalesced into runs first, so a detach of N clones costs per run, not per unit.</summary>
    public void ReleaseMany(IEnumerable<int> units)
    {
        var sorted = units.Distinct().Order().ToArray();
        var i = 0;
        while (i < sorted.Length)
        {
            var j = i;
            while (j + 1 < sorted.Length && sorted[j + 1] == sorted[j] + 1)
                j++;
            ReleaseRange(sorted[i], sorted[j]);
            i = j + 1;
        }
    }

    /// <summary>
    /// Writes this pool's pending range changes before a range query, whichever pool object made them: a query
    /// runs against the database, and a row this transaction has deleted or moved only in memory
    /// would otherwise come back as free (two ends of an epair would get the same index).
    /// </summary>
    private void Flush()
    {
        foreach (var entry in db.ChangeTracker.Entries<FreeRangeRow>())
        {
            if (entry.State is EntityState.Unchanged or EntityState.Detached || entry.Entity.Pool != pool)
                continue;
            db.SaveChanges();
            _seen.Clear();
            return;
        }
    }
}
