using IfApi.Domain;
using Microsoft.Net.Http.Headers;

namespace IfApi.Interfaces;

/// <summary><c>If-Match</c> (RFC 9110 §13.1.1) against an interface's <c>"version"</c> entity tag.</summary>
public static class Preconditions
{
    /// <summary>The strong entity tag of an interface at <paramref name="version"/>: what <see cref="IfMatch"/> reads back.</summary>
    public static string ETag(long version) => $"\"{version}\"";

    /// <summary>
    /// Null when there is no condition (no header, or <c>*</c>, which any existing interface meets).
    /// Otherwise the versions that match: strong tags only, so a weak or malformed tag matches none.
    /// </summary>
    public static IReadOnlySet<long>? IfMatch(HttpRequest request)
    {
        var values = request.Headers.IfMatch;
        if (values.Count == 0)
            return null;
        var versions = new HashSet<long>();
        if (!EntityTagHeaderValue.TryParseList(values, out var tags))
            return versions;
        foreach (var tag in tags)
        {
            if (tag.Equals(EntityTagHeaderValue.Any))
                return null;
            if (!tag.IsWeak && tag.Tag.Length > 2 && long.TryParse(tag.Tag.AsSpan(1, tag.Tag.Length - 2),
                    System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v))
                versions.Add(v);
        }
        return versions;
    }

    /// <summary>Whether the request has an <c>If-Match</c> at all (<c>*</c> included): it asks for something that exists.</summary>
    public static bool HasIfMatch(HttpRequest request) => request.Headers.IfMatch.Count > 0;

    /// <summary><c>If-None-Match: *</c>: only if nothing is there. Entity tags there are refused: a change is guarded by If-Match.</summary>
    public static bool IfNoneMatchAny(HttpRequest request)
    {
        var values = request.Headers.IfNoneMatch;
        if (values.Count == 0)
            return false;
        if (values.Count == 1 && values[0]?.Trim() == "*")
            return true;
        throw new IfError(Errno.EINVAL, "If-None-Match takes only *, to create only; guard a change with If-Match", Ioctl.IfCreate);
    }
}
