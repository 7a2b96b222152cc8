using IfApi.Domain;
using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

/// <summary>
/// <see cref="IUnitPool"/> over the <c>free_ranges</c> table. Every look-up is one index seek on
/// (pool, hi) whatever is allocated. Changes are tracked and written with the rest of the
/// transaction's changes in one batch; they are flushed early only when the same pool is read again.
/// The caller holds the pool's lock (<see cref="StoreDialect.LockAsync"/>).
/// </summary>
internal sealed class EfUnitPool(IfDbContext db, string pool) : IUnitPool
{
    private readonly Dictionary<FreeRange, FreeRangeRow> _seen = [];

    public static FreeRangeRow Whole(string pool, int lo, int hi) => new() { Pool = pool, Lo = lo, Hi = hi };

    public async ValueTask<FreeRange?> FindFreeAsync(int atOrAbove, CancellationToken ct)
    {
        await FlushAsync(ct);
        var row = await db.FreeRanges
            .Where(r => r.Pool == pool && r.Hi >= atOrAbove)
            .OrderBy(r => r.Hi)
            .FirstOrDefaultAsync(ct);
        if (row is null)
            return null;
        var range = new FreeRange(row.Lo, row.Hi);
        _seen[range] = row;
        return range;
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

    public async ValueTask ReleaseAsync(int unit, CancellationToken ct) => await ReleaseRangeAsync(unit, unit, ct);

    /// <summary>Gives back the allocated run lo..hi, joining free neighbours: two seeks whatever its length.</summary>
    public async ValueTask ReleaseRangeAsync(int lo, int hi, CancellationToken ct)
    {
        await FlushAsync(ct);
        var below = lo - 1;
        var above = hi == int.MaxValue ? hi : hi + 1;
        var neighbours = await db.FreeRanges
            .Where(r => r.Pool == pool && (r.Hi == below || r.Lo == above))
            .ToListAsync(ct);
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
    public async ValueTask ReleaseManyAsync(IEnumerable<int> units, CancellationToken ct)
    {
        var sorted = units.Distinct().Order().ToArray();
        var i = 0;
        while (i < sorted.Length)
        {
            var j = i;
            while (j + 1 < sorted.Length && sorted[j + 1] == sorted[j] + 1)
                j++;
            await ReleaseRangeAsync(sorted[i], sorted[j], ct);
            i = j + 1;
        }
    }

    /// <summary>
    /// Writes pending range changes before a range query, whichever pool object made them: a query
    /// runs against the database, and a row this transaction has deleted or moved only in memory
    /// would otherwise come back as free (two ends of an epair would get the same index).
    /// </summary>
    private async ValueTask FlushAsync(CancellationToken ct)
    {
        foreach (var entry in db.ChangeTracker.Entries<FreeRangeRow>())
        {
            if (entry.State is EntityState.Unchanged or EntityState.Detached)
                continue;
            await db.SaveChangesAsync(ct);
            _seen.Clear();
            return;
        }
    }
}
