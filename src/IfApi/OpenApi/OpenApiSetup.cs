using System.Reflection;
using Microsoft.AspNetCore.Authorization;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace IfApi.OpenApi;

/// <summary>Swagger UI at /swagger; the same document is written to openapi/v1.json by the build.</summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddIfOpenApi(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new()
            {
                Title = "IfApi",
                Version = "v1",
                Description = "Virtual network interfaces managed the way the BSD interface-cloning layer does. Errors are RFC 9457 problem+json with the BSD `errno`.",
            });
            var xml = Path.Combine(AppContext.BaseDirectory, $"{Assembly.GetExecutingAssembly().GetName().Name}.xml");
            if (File.Exists(xml))
                o.IncludeXmlComments(xml);
            o.AddSecurityDefinition(KeyScopes.Scheme, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key's secret (`Auth:Keys:<name>:Secret`). Its scopes (`read`, `write`, `admin`, `tap`) say what it may do. WebSockets and event streams from a browser may pass it as `access_token` in the query instead.",
            });
            o.AddSecurityDefinition(KeyScopes.QueryScheme, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Query,
                Name = Auth.AuthSetup.AccessTokenParameter,
                Description = "The same secret as a query parameter, on GET only: for a browser's WebSocket or EventSource, which cannot set headers.",
            });
            o.OperationFilter<KeyScopes>();
            o.OperationFilter<ContractOperations>();
            o.SchemaFilter<ContractSchemas>();
            o.DocumentFilter<ContractDocumentParts>();
            o.SupportNonNullableReferenceTypes(); // string is not nullable, string? is: generated clients see which
            // The events stream's data is one of the announcements, each described by its own record.
            o.UseOneOfForPolymorphism();
            o.SelectSubTypesUsing(t => t == typeof(IfApi.Domain.Announcement) ? IfApi.Domain.Announcement.Kinds : []);
        });
        return services;
    }

    /// <summary>
    /// Serves /swagger through a branch built on its first request: Swagger's middleware reads the
    /// XML comments and loads its generator when it is made, which a service nobody browses need
    /// not keep in memory (about 2 MB of an idle service's resident set).
    /// </summary>
    public static WebApplication UseIfOpenApi(this WebApplication app)
    {
        app.Use(next =>
        {
            var swagger = new Lazy<RequestDelegate>(() =>
            {
                var branch = ((IApplicationBuilder)app).New();
                branch.UseSwagger();
                branch.UseSwaggerUI(o =>
                {
                    o.RoutePrefix = "swagger";
                    o.SwaggerEndpoint("/swagger/v1/swagger.json", "IfApi v1");
                });
                branch.Run(next); // what Swagger does not serve goes on down the pipeline
                return branch.Build();
            });
            return context => context.Request.Path.StartsWithSegments("/swagger", StringComparison.OrdinalIgnoreCase)
                ? swagger.Value(context)
                : next(context);
        });
        return app;
    }
}

/// <summary>Marks each operation with the scope its endpoint requires, so Swagger UI sends the key.</summary>
internal sealed class KeyScopes : IOperationFilter
{
    public const string Scheme = "apiKey";
    public const string QueryScheme = "accessToken";

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var metadata = context.ApiDescription.ActionDescriptor.EndpointMetadata;
        if (metadata.OfType<IAllowAnonymous>().Any())
        {
            operation.Security = []; // no key needed, said outright
            return;
        }
        var scopes = metadata.OfType<IAuthorizeData>().Select(a => a.Policy).OfType<string>().ToList();
        if (scopes.Count == 0)
            scopes.Add(Auth.ScopeNames.Read); // the fallback policy
        // OAS 3.0 lists scopes only for OAuth2 and OpenID Connect: a bearer scheme's list is empty, and
        // the scope is described (and named in x-ifapi-scopes for tools that want it).
        operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Scheme, context.Document)] = [] }];
        if (Auth.AuthSetup.TakesAccessToken(context.ApiDescription.HttpMethod ?? ""))
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(QueryScheme, context.Document)] = [] });
        operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
        operation.Extensions["x-ifapi-scopes"] = new JsonNodeExtension(new System.Text.Json.Nodes.JsonArray([.. scopes.Select(s => (System.Text.Json.Nodes.JsonNode)s)]));
        operation.Description = $"{operation.Description}{(string.IsNullOrEmpty(operation.Description) ? "" : "\n\n")}Needs a key with the `{string.Join("`, `", scopes)}` scope.";
    }
}
