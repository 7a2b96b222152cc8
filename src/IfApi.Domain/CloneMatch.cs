namespace IfApi.Domain;

/// <summary>What a create request's name asks of the cloner that matched it.</summary>
public abstract record CloneMatch(ClonerSpec Cloner);

/// <summary>Simple matcher: the cloner name followed by nothing (wildcard) or decimal digits.</summary>
public sealed record UnitMatch(ClonerSpec Cloner, string UnitText) : CloneMatch(Cloner);

/// <summary>
/// vlan's advanced matcher: <c>&lt;parent&gt;.&lt;tag&gt;</c>, e.g. <c>tap0.100</c>. <see cref="Tag"/> is
/// null when the digits are not a tag of 1–4094; like <c>vlan_clone_create</c>, the creator refuses
/// that with EINVAL, after it has checked that the name is free.
/// </summary>
public sealed record VlanDotMatch(ClonerSpec Cloner, string Parent, int? Tag) : CloneMatch(Cloner);

public static class ClonerMatcher
{
    public const int MinVlanTag = 1;
    public const int MaxVlanTag = 4094;

    /// <summary>
    /// Finds the cloner for a name the way <c>ifc_create_ifp</c> walks the cloner list (newest first):
    /// the first cloner whose matcher accepts the name wins. The vlan matcher accepts a dotted name
    /// only when its parent interface exists, so that check is asked of the caller.
    /// </summary>
    public static async ValueTask<CloneMatch?> MatchAsync(
        IEnumerable<ClonerSpec> clonersNewestFirst,
        string name,
        Func<string, CancellationToken, ValueTask<bool>> interfaceExists,
        CancellationToken ct)
    {
        foreach (var cloner in clonersNewestFirst)
        {
            if (name.StartsWith(cloner.Name, StringComparison.Ordinal) && IfNames.AllDigits(name.AsSpan(cloner.Name.Length)))
                return new UnitMatch(cloner, name[cloner.Name.Length..]);

            if (cloner.Kind == InterfaceKind.Vlan && TrySplitDotted(name, out var parent, out var tagText)
                && await interfaceExists(parent, ct))
            {
                var valid = int.TryParse(tagText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var tag)
                    && tag is >= MinVlanTag and <= MaxVlanTag;
                return new VlanDotMatch(cloner, parent, valid ? tag : null);
            }
        }
        return null;
    }

    /// <summary><c>vlan_clone_match_ethervid</c>: split at the last dot; the tag is one or more digits.</summary>
    private static bool TrySplitDotted(string name, out string parent, out string tag)
    {
        var dot = name.LastIndexOf('.');
        parent = dot > 0 ? name[..dot] : "";
        tag = dot > 0 ? name[(dot + 1)..] : "";
        return dot > 0 && tag.Length > 0 && IfNames.AllDigits(tag);
    }
}
