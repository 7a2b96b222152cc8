using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace IfApi.Lab;

/// <summary>
/// The page for people at <c>/</c> (SPEC §9): a vnet's interfaces as a live picture, drawn in the
/// browser from the API itself (<c>/v1/interfaces</c>, <c>/v1/events</c>). The page is a few plain
/// files built into the assembly (<c>Lab/Assets/</c>), so the service serves them from wherever it
/// is started, and nothing is built by the user or fetched from anywhere else. They need no key,
/// whatever <c>Auth:Keys</c> says: the page holds no data, and the calls it makes need one. They are
/// not part of <c>/v1</c> nor of its document.
/// </summary>
public static class LabPage
{
    /// <summary>
    /// The page may load and call only what this service serves: no other origin, no inline script or
    /// style, no frames. A key in the page's address (<c>/?access_token=…</c>) is not sent on as a
    /// referrer.
    /// </summary>
    internal const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly Asset[] Assets =
    [
        new("/", "index.html", "text/html; charset=utf-8"),
        new("/lab/lab.js", "lab.js", "text/javascript; charset=utf-8"),
        new("/lab/picture.js", "picture.js", "text/javascript; charset=utf-8"),
        new("/lab/lab.css", "lab.css", "text/css; charset=utf-8"),
        new("/lab/icon.svg", "icon.svg", "image/svg+xml"),
    ];

    /// <summary>The paths the page is served at, for the tests.</summary>
    internal static IEnumerable<string> Paths => Assets.Select(a => a.Path);

    public static IEndpointRouteBuilder MapLabPage(this IEndpointRouteBuilder routes)
    {
        foreach (var asset in Assets)
        {
            routes.MapGet(asset.Path, (HttpContext http) => Serve(http, asset))
                .AllowAnonymous()
                .ExcludeFromDescription();
        }
        return routes;
    }

    /// <summary>
    /// The file, revalidated on every load (<c>no-cache</c> with its ETag: an upgraded service is seen at
    /// once, an unchanged file costs a 304).
    /// </summary>
    private static IResult Serve(HttpContext http, Asset asset)
    {
        var headers = http.Response.Headers;
        headers[HeaderNames.ContentSecurityPolicy] = ContentSecurityPolicy;
        headers[HeaderNames.XContentTypeOptions] = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers[HeaderNames.CacheControl] = "no-cache";
        var (content, etag) = asset.Content.Value;
        return TypedResults.Bytes(content, asset.ContentType, entityTag: etag);
    }

    /// <summary>One file of the page: where it is served, its embedded resource, its type; read on first use.</summary>
    private sealed class Asset(string path, string file, string contentType)
    {
        public string Path { get; } = path;
        public string ContentType { get; } = contentType;

        public Lazy<(byte[] Content, EntityTagHeaderValue ETag)> Content { get; } = new(() => Read(file));

        private static (byte[], EntityTagHeaderValue) Read(string file)
        {
            var name = $"IfApi.Lab.{file}";
            using var stream = typeof(LabPage).Assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"the page's file {name} is not embedded in the assembly");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var hash = Convert.ToHexStringLower(SHA256.HashData(content))[..16];
            return (content, new EntityTagHeaderValue($"\"{hash}\""));
        }
    }
}
