using System.Text.Json.Nodes;
using IfApi.Contract;
using IfApi.Domain;
using Microsoft.AspNetCore.Mvc;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace IfApi.OpenApi;

/// <summary>The headers an endpoint reads and answers with, beyond the ones every endpoint has.</summary>
public sealed record HeaderContract(IReadOnlyList<string> Request, IReadOnlyList<string> Response);

/// <summary>The HTTP headers the contract names, each described once.</summary>
public static class Headers
{
    public const string ETag = "ETag";
    public const string IfMatch = "If-Match";
    public const string IfNoneMatch = "If-None-Match";
    public const string IdempotencyKey = "Idempotency-Key";
    public const string IdempotentReplayed = "Idempotent-Replayed";
    public const string LastEventId = "Last-Event-ID";
    public const string Location = "Location";
    public const string RetryAfter = "Retry-After";
    public const string WwwAuthenticate = "WWW-Authenticate";
    public const string RequestId = "X-Request-ID";

    internal static readonly Dictionary<string, (string Description, JsonSchemaType Type)> Described = new()
    {
        [ETag] = ("The interface's version as a strong entity tag, `\"N\"`: send it back in `If-Match`.", JsonSchemaType.String),
        [IfMatch] = ("Change only if the interface (for bridge members: the bridge) is at one of these versions (`\"N\"`, as `ETag` gave it), else 412 ESTALE; `*`: only if it exists.", JsonSchemaType.String),
        [IfNoneMatch] = ("`*`: create only; when the name exists, 412 ESTALE and nothing changes.", JsonSchemaType.String),
        [IdempotencyKey] = ("Up to 255 printable ASCII characters. A retry with the same key and body within 24 hours answers what the first request answered and changes nothing; the same key with another body is 409 EEXIST.", JsonSchemaType.String),
        [IdempotentReplayed] = ("`true` when the answer is the first answer to this `Idempotency-Key`, replayed.", JsonSchemaType.String),
        [LastEventId] = ("Resume right after this event id (what the stream last gave).", JsonSchemaType.String),
        [Location] = ("Where what was made is read.", JsonSchemaType.String),
        [RetryAfter] = ("Seconds to wait before trying again.", JsonSchemaType.Integer),
        [WwwAuthenticate] = ("`Bearer`, with why the key was refused.", JsonSchemaType.String),
        [RequestId] = ("The request's id, in the log and in every problem (`requestId`); a client may choose it.", JsonSchemaType.String),
    };

    /// <summary>Declares the headers this endpoint reads (<paramref name="request"/>) and answers with on success (<paramref name="response"/>).</summary>
    public static TBuilder WithHeaders<TBuilder>(this TBuilder endpoints, string[]? request = null, string[]? response = null) where TBuilder : IEndpointConventionBuilder =>
        endpoints.WithMetadata(new HeaderContract(request ?? [], response ?? []));
}

/// <summary>
/// What every operation's description gets from the conventions, so the document cannot drift from
/// them: the headers each declares and the ones every operation has, <c>dryRun</c> on every change,
/// 400 for every operation under /v1 (a query parameter it does not take), 413 and 415 for every
/// body, and the problem schema's <c>errno</c>.
/// </summary>
internal sealed class ContractOperations : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var metadata = context.ApiDescription.ActionDescriptor.EndpointMetadata;
        var headers = metadata.OfType<HeaderContract>().FirstOrDefault() ?? new HeaderContract([], []);
        var query = metadata.OfType<QueryContract>().FirstOrDefault();
        var v1 = context.ApiDescription.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;

        operation.Parameters ??= [];
        // Bound by the vnet middleware, not by the handler: Swashbuckle would not see it.
        if (metadata.OfType<Vnets.VnetScope>().FirstOrDefault() is { Named: true })
            operation.Parameters.Insert(0, new OpenApiParameter
            {
                Name = Vnets.VnetAccess.RouteValue,
                In = ParameterLocation.Path,
                Required = true,
                Description = "The vnet the operation works in, as `jexec NAME` runs a command inside a jail. One the caller cannot see (a key bound to another vnet) or that does not exist: 404 `ENXIO`.",
                Schema = Schema(JsonSchemaType.String),
            });
        foreach (var name in headers.Request.Append(Headers.RequestId))
            operation.Parameters.Add(new OpenApiParameter { Name = name, In = ParameterLocation.Header, Description = Headers.Described[name].Description, Schema = Schema(Headers.Described[name].Type) });
        if (query?.Changes == true)
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = ContractSetup.DryRunParameter,
                In = ParameterLocation.Query,
                Description = "Check every rule and answer what would happen (status, body, headers), committing nothing: no unit or index is taken, no event written.",
                Schema = Schema(JsonSchemaType.Boolean),
            });

        operation.Responses ??= [];
        if (v1)
            Problem(operation, context, 400);
        if (operation.RequestBody is not null)
        {
            Problem(operation, context, 413);
            Problem(operation, context, 415);
        }
        foreach (var (status, response) in operation.Responses)
        {
            if (response is not OpenApiResponse r)
                continue;
            r.Headers ??= new Dictionary<string, IOpenApiHeader>();
            var named = status switch
            {
                "201" => headers.Response.Append(Headers.Location),
                "401" => [Headers.WwwAuthenticate],
                "503" => [Headers.RetryAfter],
                _ when status.StartsWith('2') => headers.Response,
                _ => [],
            };
            foreach (var name in named.Append(Headers.RequestId).Distinct())
                r.Headers[name] = new OpenApiHeader { Description = Headers.Described[name].Description, Schema = Schema(Headers.Described[name].Type) };
        }
    }

    private static OpenApiSchema Schema(JsonSchemaType type) => new() { Type = type };

    private static void Problem(OpenApiOperation operation, OperationFilterContext context, int status)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
            return;
        operation.Responses[key] = new OpenApiResponse
        {
            Description = Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status),
            Content = new Dictionary<string, IOpenApiMediaType>
            {
                ["application/problem+json"] = new OpenApiMediaType { Schema = context.SchemaGenerator.GenerateSchema(typeof(ProblemDetails), context.SchemaRepository) },
            },
        };
    }
}

/// <summary>The problem schema with the members every error carries (SPEC §3), and the merge patch's nulls as they are meant.</summary>
internal sealed class ContractSchemas : ISchemaFilter
{
    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (schema is not OpenApiSchema s || s.Properties is null)
            return;
        if (context.Type == typeof(ProblemDetails))
        {
            s.Properties["errno"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Description = "The BSD errno name of the refusal.",
                Enum = [.. Enum.GetNames<Errno>().Select(n => (JsonNode)JsonValue.Create(n)!)],
            };
            s.Properties["ioctl"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The ioctl (or kernel function) the refusal is of, where one applies." };
            s.Properties["requestId"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The request's `X-Request-ID`." };
            s.Properties["operation"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Description = "In a transaction's answer: the place (from 0) of the operation that was refused." };
            s.Required = new HashSet<string> { "errno" };
        }
        else if (context.Type == typeof(Interfaces.PatchInterfaceRequest))
        {
            // A merge patch: every member optional; null only where it means "clear" (the description).
            foreach (var (name, property) in s.Properties)
                if (property is OpenApiSchema p && name != "description" && p.Type is { } t)
                    p.Type = t & ~JsonSchemaType.Null;
        }
    }
}

/// <summary>The document's own parts: where the service is, who keeps it, and what each tag is (every tag used has one here).</summary>
internal sealed class ContractDocumentParts : IDocumentFilter
{
    private static readonly (string Name, string Description)[] Tags =
    [
        ("Vnets", "Virtual network stacks (VIMAGE), the unit of isolation: each has its own interfaces, indexes, groups, cloners and events. Every operation of the other tags also exists under `/v1/vnets/{vnet}/…` (its operation id ends in `InVnet`), as `jexec NAME ifconfig …` runs in a jail; the plain paths work in the caller's own vnet (a key's `Auth:Keys:<name>:Vnet`, else `host`)."),
        ("Cloners", "Interface cloners (`struct if_clone`): `ifconfig -C`, attach and detach."),
        ("Interfaces", "Interfaces (`struct ifnet`): create, list, read, change, destroy, and the upsert by name."),
        ("Groups", "Interface groups (`struct ifg_group`): join, leave, and who is in which."),
        ("Bridges", "A bridge's members (`BRDGADD`, `BRDGDEL`, `BRDGGIFS`)."),
        ("Tap", "Tap devices over WebSocket (one binary message = one Ethernet frame) and frames sent out of an interface."),
        ("Events", "Announcements of the routing socket as Server-Sent Events."),
        ("Transactions", "Several operations applied all or nothing, in one store transaction."),
        ("Health", "Liveness and readiness, for orchestrators; no key needed."),
        ("Metrics", "Prometheus text for scrapers."),
    ];

    public void Apply(OpenApiDocument doc, DocumentFilterContext context)
    {
        doc.Servers = [new OpenApiServer { Url = "/", Description = "Where this document is served from; every deployment serves the same paths" }];
        doc.Info.Contact = new OpenApiContact { Name = "The IfApi maintainers" };
        var used = doc.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []).SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>())
            .Select(t => t.Name).ToHashSet();
        doc.Tags = new HashSet<OpenApiTag>(Tags.Where(t => used.Contains(t.Name)).Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
    }
}
